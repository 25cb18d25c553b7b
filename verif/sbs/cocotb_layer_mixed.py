"""cocotb test of one layer of a network whose layers use different weight formats: the layer
unit built with that layer's format runs the layer, its final h compared bit for bit with the
golden model run with the per-layer formats (``refmodels.sbs.run(weights=[...])``).

Each layer of a per-layer configuration runs on its own build (``approxnn explore sbs
--verify-rtl``): the layer's input is the golden model's h of the layer below, which the
previous layer's run showed to be the RTL's, bit for bit; the spikes are drawn from it as the
golden model draws them (xorshift registers per source layer, seeded independently of the
other layers).

Configuration from the environment: as ``cocotb_layer`` (``APPROXNN_SBS_P``, ``_NMAX``,
``_IPMAX``, ``_ROWSMAX``, ``_WEIGHTS`` = the build's format, ``_NETWORK``, ``_T``,
``_IMAGES``, ``APPROXNN_SEED``, ``APPROXNN_IDLE`` / ``_BACKPRESSURE``, ``_RESULT``), plus
``APPROXNN_SBS_FORMATS`` (one format per layer, comma-separated) and ``APPROXNN_SBS_LAYER``
(the index of the layer this build runs).
"""

import json
import os

import numpy as np

from refmodels.sbs.formats import HFixed, parse_format
from refmodels.sbs.model import encode_input, run
from refmodels.sbs.rng import SpikeRNG, select_fixed
from verif import fail_exit
from verif.common.axi import RegAgent, frame, reset, start_clock
from verif.common.axi_env import DirectedSeq, DirectedTest, OwnSetupBfm, register
from verif.sbs.cocotb_layer import Cycles, LayerDriver, layer_config, network, test_images
from verif.sbs.env import setting

fail_exit.install()


async def mixed_layer_steps(dut):
    """One layer of a per-layer-format network on the build of its format, a few images."""
    p, n_max, ip_max, rows_max, fmt = layer_config()
    net = network()
    formats = [parse_format(f) for f in setting("APPROXNN_SBS_FORMATS", "").split(",")]
    li = int(setting("APPROXNN_SBS_LAYER", "0"))
    assert len(formats) == len(net.layers), "APPROXNN_SBS_FORMATS: one format per layer"
    assert formats[li].name == fmt.name, f"layer {li} is {formats[li].name}, build {fmt.name}"
    lay = net.layers[li]
    if lay.n_h > n_max or lay.n_ip > ip_max or lay.n_h % p or \
            np.prod(lay.weight_shape[:3]) > rows_max:
        raise AssertionError(f"layer {li} ({lay.type}) does not fit the RTL built")
    T = int(setting("APPROXNN_SBS_T", "8"))
    images, labels = test_images(net, int(setting("APPROXNN_SBS_IMAGES", "1")))
    seeds = int(os.environ.get("APPROXNN_SEED", "0")) + np.arange(len(images))
    hf = HFixed()
    _, want = run(net, images, T, seeds=seeds, weights=formats, h=hf, return_all=True)
    source0 = hf.quantise_h(encode_input(images, net.input_shape, net.encoding))
    start_clock(dut)
    await reset(dut)
    clock = Cycles(dut)
    drv = LayerDriver(dut, RegAgent(dut), p, fmt, float(os.environ.get("APPROXNN_IDLE", "0.1")),
                      float(os.environ.get("APPROXNN_BACKPRESSURE", "0.2")))
    codes = fmt.quantise(net.weights[li])
    ox, oy, n = lay.out_shape
    (kxn, kyn), (sx, sy) = lay.kernel, lay.stride
    c_in = lay.in_shape[2]
    results, updates = [], 0
    for b in range(len(images)):
        source = source0[b] if li == 0 else want[li - 1][b]
        gen = SpikeRNG("xorshift", seeds[b:b + 1])
        await drv.configure(lay, codes, hf)
        await drv.load_h(np.full((ox, oy, n), hf.init_h(n)))
        for _ in range(T):
            px, py = source.shape[:2]
            u = gen.words(li, px * py).reshape(1, px, py)
            spk = select_fixed(source[None], u)[0]
            beats = []
            for x in range(ox):
                for y in range(oy):
                    ip = x * oy + y
                    for kx in range(kxn):
                        for ky in range(kyn):
                            c = int(spk[x * sx + kx, y * sy + ky])
                            if c >= 0:
                                beats.append((ip << 16) | ((kx * kyn + ky) * c_in + c))
            updates += len(beats)
            if beats:
                await drv.s_src.send(frame(beats))
        await drv.s_src.wait()
        await drv.idle()
        got = np.array(await drv.dump_h(), dtype=np.int64).reshape(ox, oy, n)
        if not np.array_equal(got, want[li][b]):
            bad = np.argwhere(got != want[li][b])
            i = tuple(bad[0])
            raise AssertionError(
                f"image {b} layer {li} ({lay.type}, {fmt.name}): {len(bad)} latents differ "
                f"from the golden model, first at {i}: RTL {got[i]}, model {want[li][b][i]}")
        results.append({"image": b, "label": int(labels[b]),
                        "class": int(np.argmax(got.reshape(-1)))
                        if li == len(net.layers) - 1 else None})
    out = os.environ.get("APPROXNN_SBS_RESULT")
    if out:
        with open(out, "w") as fh:
            json.dump({"layer": li, "weights": fmt.name, "T": T, "images": len(images),
                       "updates": updates, "cycles": clock.n, "results": results,
                       "equal": True}, fh)


class MixedLayerSeq(DirectedSeq):
    """The layer run above as a pyuvm sequence (it starts its own clock and reset)."""

    async def steps(self, bfm):
        await mixed_layer_steps(bfm.dut)


class MixedLayerTest(DirectedTest):
    bfm_class = OwnSetupBfm
    sequence_class = MixedLayerSeq


mixed_layer = register("mixed_layer", MixedLayerTest)
