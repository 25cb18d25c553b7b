"""Networks: float backprop, stored trained networks, quantisation reproducibility, and the
agreement of the int8 paths."""

import numpy as np
import pytest

from refmodels.cnn import approx, train
from refmodels.cnn import net as N


def test_gradients_match_finite_differences():
    topo = {"name": "t", "input": [7, 6, 2], "layers": [
        {"type": "conv2d", "name": "c1", "filters": 3, "kernel": [3, 3], "stride": [2, 1],
         "padding": "SAME", "activation": "RELU"},
        {"type": "conv2d", "name": "c2", "filters": 2, "kernel": [2, 3], "padding": "VALID",
         "activation": "RELU6"},
        {"type": "maxpool", "pool": [1, 2]},
        {"type": "flatten"},
        {"type": "dense", "name": "d", "units": 4}]}
    n = N.Network(topo)
    n.init_params(1)
    for k in n.arrays:
        n.arrays[k] = n.arrays[k].astype(np.float64) + 0.05
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7, 6, 2))
    y = np.array([0, 1, 3])

    def loss():
        return train.softmax_ce(n.forward(x).astype(np.float64), y)[0]

    out, cache = n.forward(x, keep=True)
    _, d = train.softmax_ce(out.astype(np.float64), y)
    g = n.backward(d.astype(np.float64), cache)
    for k in n.param_names():
        a = n.arrays[k]
        for _ in range(3):
            i = np.unravel_index(rng.integers(a.size), a.shape)
            a[i] += 1e-6
            l1 = loss()
            a[i] -= 2e-6
            l2 = loss()
            a[i] += 1e-6
            assert abs((l1 - l2) / 2e-6 - g[k][i]) < 1e-4 * max(1.0, abs(g[k][i])), k


def test_dataset_split():
    xtr, ytr, xte, yte = N.load_dataset("digits")
    assert len(xtr) + len(xte) == 1797 and np.bincount(yte).tolist() == [36] * 10
    assert xtr.dtype == np.float32 and xtr.shape[1:] == (8, 8, 1) and xtr.max() <= 1.0
    again = N.load_dataset("digits")
    np.testing.assert_array_equal(again[1], ytr)
    with pytest.raises(ValueError):
        N.load_dataset("cifar")


@pytest.fixture(scope="module", params=["digits", "mnist"])
def stored(request):
    net = N.load_network(request.param)
    data = N.load_dataset(net.topology["dataset"])
    return net, data


def test_stored_network_accuracy(stored):
    net, (_, _, xte, yte) = stored
    floor = {"digits": 0.93, "mnist": 0.95}[net.name]
    acc_f = net.accuracy(xte, yte, "float")
    acc_q = net.accuracy(xte, yte, "int8")
    assert acc_f >= floor
    assert acc_q >= acc_f - 0.02
    assert net.accuracy(xte[:300], yte[:300], "hf6") >= floor - 0.05


@pytest.mark.parametrize("name", ["digits", "mnist", "digits_hf6qat", "mnist_hf6qat"])
def test_quantisation_is_reproducible(name):
    net = N.load_network(name)
    xtr = N.load_dataset(net.topology["dataset"])[0]
    fresh = N.Network(dict(net.topology), {k: v for k, v in net.arrays.items()
                                           if k.endswith((".w", ".b"))})
    fresh.quantize(xtr[:1000])
    assert fresh.topology["quant"] == net.topology["quant"]
    for k, v in net.arrays.items():
        np.testing.assert_array_equal(fresh.arrays[k], v, err_msg=k)
        if k.endswith(".wq"):
            assert v.dtype == np.int8 and v.min() >= -127
        if k.endswith(".bq"):
            assert v.dtype == np.int32


def test_exact_units_reproduce_int8_network(stored):
    net, (_, _, xte, _) = stored
    xq = net.quantize_input(xte[:150])
    ref = net.forward_int8(xq)
    for signed in (True, False):
        np.testing.assert_array_equal(net.forward_int8(xq, approx.ApproxMul.exact(signed)), ref)
    drum = net.forward_int8(xq, "drum:k=4,width=8,signed=1")
    assert not np.array_equal(drum, ref)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        N.load_network("nope")
    with pytest.raises(ValueError):
        N.Network({"name": "x", "input": [4, 4, 1], "layers": [{"type": "lstm"}]})
    net = N.load_network("digits")
    net.save(tmp_path)
    back = N.load_network("digits", tmp_path)
    assert back.topology == net.topology


@pytest.mark.parametrize("rounding", ["reference", "gemmlowp", "optimized"])
def test_trace_and_int8_params_rebuild_the_network(stored, rounding):
    """Chaining the layer kernels by hand with int8_params() gives the traced outputs, on every
    rounding path."""
    from refmodels.cnn import tflite as tfl

    net, (_, _, xte, _) = stored
    xq = net.quantize_input(xte[:40])
    out, trace = net.forward_int8(xq, trace=True, batch=16, rounding=rounding)
    params = {p["name"]: p for p in net.int8_params()}
    a = xq
    for L in net.layers:
        nm = L["name"]
        if L["type"] == "conv2d":
            p = params[nm]
            a = tfl.conv2d(a, p["weights"], p["bias"], p["input_zero_point"],
                           p["output_zero_point"], p["multiplier"], p["shift"], p["stride"],
                           p["padding"], 1, p["act_min"], p["act_max"], rounding=rounding)
        elif L["type"] == "dense":
            p = params[nm]
            a = tfl.fully_connected(a, p["weights"], p["bias"], p["input_zero_point"],
                                    p["output_zero_point"], p["multiplier"], p["shift"],
                                    p["act_min"], p["act_max"], rounding=rounding,
                                    scale=p["scale"])
        elif L["type"] == "maxpool":
            a = tfl.max_pool(a, L["pool"])
        else:
            a = a.reshape(len(a), -1)
        np.testing.assert_array_equal(trace[nm], a, err_msg=nm)
    np.testing.assert_array_equal(out, a)
    with pytest.raises(ValueError):
        net.forward_int8(xte[:2])  # float input is refused
    with pytest.raises(ValueError, match="rounding"):
        net.forward_int8(xq, rounding="nearest")


def test_dense_rounding_paths_differ_on_logits(stored):
    """The reference (float64, one rounding) and the fixed-point dense rescale are different
    definitions: over the test split some logit differs (by one code on the stored networks)."""
    net, (_, _, xte, _) = stored
    xq = net.quantize_input(xte[:360])
    ref = net.forward_int8(xq).astype(int)
    fix = net.forward_int8(xq, rounding="gemmlowp").astype(int)
    assert (ref != fix).any() and np.abs(ref - fix).max() <= 2


def test_hf6_qat_helps_digits():
    plain = N.load_network("digits")
    qat = N.load_network("digits_hf6qat")
    _, _, xte, yte = N.load_dataset("digits")
    assert qat.accuracy(xte, yte, "hf6") > plain.accuracy(xte, yte, "hf6")
