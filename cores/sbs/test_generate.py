"""The SbS cores: committed Verilog equals a fresh generation, lint, parameter checks."""

from pathlib import Path

import pytest
from approxnn.eda.lint import lint
from approxnn.eda.sim import simulator_available

from cores.common import convert_block
from cores.sbs import generate
from cores.sbs.update.update import UpdateConfigError, check_params, module_name, top
from verif.common.tiers import nightly


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """One fresh generation of every SbS core, shared by the tests of this module."""
    root = tmp_path_factory.mktemp("sbs_gen")
    generate.generate(root)
    return root


def test_committed_files_are_up_to_date(fresh):
    problems = generate.compare(fresh)
    assert not problems, "regenerate with `python -m cores.sbs.generate`:\n" + "\n".join(problems)


def test_compare_detects_a_changed_file(fresh, tmp_path):
    import shutil

    shutil.copytree(fresh, tmp_path / "copy")
    victim = tmp_path / "copy" / "update" / generate.rtl_files()[0]
    victim.write_text(victim.read_text().replace("endmodule", "endmodule // edited"))
    assert generate.compare(tmp_path / "copy") == [
        f"differs: cores/sbs/update/{generate.rtl_files()[0]}"]


def test_conversion_is_reproducible(tmp_path):
    first = convert_block(lambda: top(2, 16, "log4"), "u", tmp_path / "a").read_bytes()
    convert_block(lambda: top(1, 8, "e3m1"), "v", tmp_path / "b")
    second = convert_block(lambda: top(2, 16, "log4"), "u", tmp_path / "c").read_bytes()
    assert first == second
    assert b"Date: (not recorded" in first


@pytest.mark.parametrize("bad, match", [
    ((3, 64, "e4m1"), "lanes P=3"),
    ((4, 48, "e4m1"), "power of two"),
    ((4, 4, "e4m1"), "power of two"),
    ((4, 64, "e4m2"), "0 or 1 mantissa"),
    ((4, 64, "e5m1"), "2..4 exponent"),
    ((4, 64, "float32"), "coded weights"),
    ((4, 64, "bf16"), "unknown weight format"),
])
def test_bad_parameters_are_refused(bad, match):
    with pytest.raises(UpdateConfigError, match=match):
        check_params(*bad)
    with pytest.raises(UpdateConfigError, match=match):
        top(*bad)


def test_module_names_carry_the_configuration():
    assert module_name(4, 1024, "e4m1") == "sbs_update_e4m1_p4_n1024"
    assert module_name(8, 256, "LOG4") == "sbs_update_log4_p8_n256"


needs_verilator = pytest.mark.skipif(not simulator_available("verilator"),
                                     reason="needs verilator")


COMMITTED = [f"{folder}/{rel}" for core, folder in generate.CORES.items()
             for rel in generate.rtl_files(core)]


@needs_verilator
@pytest.mark.parametrize("rel", COMMITTED)
def test_committed_rtl_is_lint_clean(rel):
    path = generate.SBS_DIR / rel
    msg = lint(path)
    assert not msg, msg


@needs_verilator
@pytest.mark.parametrize("cfg", [(1, 4, "log2"), (2, 16, "e3m1"), (8, 64, "e4m0"),
                                 # P = 16: the largest conversion, nightly
                                 pytest.param((16, 256, "e4m1"), marks=nightly)])
def test_other_configurations_are_lint_clean(cfg, tmp_path):
    # the waivers file lives next to rtl/: lay the file out the same way
    path = convert_block(lambda: top(*cfg), module_name(*cfg), tmp_path / "rtl")
    (tmp_path / "lint.vlt").write_text((generate.SBS_DIR / "update" / "lint.vlt").read_text())
    msg = lint(path)
    assert not msg, msg


@pytest.mark.parametrize("bad, match", [((3, 16), "power of two, 2..128"),
                                        ((256, 16), "power of two, 2..128"),
                                        ((16, 0), "SRC_MAX=0"), ((16, 3), "SRC_MAX=3")])
def test_spikegen_bad_parameters_are_refused(bad, match):
    from cores.sbs.spikegen.spikegen import SpikegenConfigError
    from cores.sbs.spikegen.spikegen import top as sg_top

    with pytest.raises(SpikegenConfigError, match=match):
        sg_top(*bad)


@pytest.mark.parametrize("network", ["mnist", "mnist_e4m1", "mnist_noise50"])
def test_the_committed_mnist_layer_unit_holds_the_stored_mnist_networks(network):
    """The second committed layer unit takes every layer of the stored MNIST networks (the
    conditions verif/sbs/cocotb_layer.py checks before running a network); the default one
    does not (800 weight rows in the output layer)."""
    import numpy as np

    from refmodels.sbs.evaluate import NET_DIR, load_named

    net = load_named(str(Path(NET_DIR) / network))[0]
    p, n_max, _, ip_max, rows_max = generate.LAYER_CONFIGS[1]
    rows = [int(np.prod(lay.weight_shape[:3])) for lay in net.layers]
    assert max(rows) == 800 and max(lay.n_ip for lay in net.layers) == 196
    for lay, r in zip(net.layers, rows, strict=True):
        assert lay.n_h <= n_max and lay.n_h % p == 0 and lay.n_ip <= ip_max and r <= rows_max
    assert max(rows) > generate.LAYER_CONFIGS[0][4]


def test_the_published_split_holds_the_published_network():
    """The two layer units of PUBLISHED_SPLIT (the committed conv unit and the generated fc
    unit) take every layer of the published MNIST topology, in order, as the cocotb network
    test requires; the conv unit alone could not take the fc layer."""
    import numpy as np

    from refmodels.sbs.model import build_layers, mnist_published_topology

    layers = build_layers(mnist_published_topology())
    covered = []
    for (p, n_max, _, ip_max, rows_max), first, last in generate.PUBLISHED_SPLIT:
        for lay in layers[first:last + 1]:
            rows = int(np.prod(lay.weight_shape[:3]))
            assert lay.n_h <= n_max and lay.n_h % p == 0 and lay.n_ip <= ip_max
            assert rows <= rows_max
            covered.append(lay.index)
    assert covered == [lay.index for lay in layers]
    assert generate.PUBLISHED_SPLIT[0][0] in generate.LAYER_CONFIGS
    assert layers[4].n_h > generate.PUBLISHED_SPLIT[0][0][1]  # fc 1024
