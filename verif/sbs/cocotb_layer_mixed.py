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
from refmodels.sbs.rng import SpikeRNG
from verif import fail_exit
from verif.common.axi_env import directed_test, register
from verif.common.settings import setting
from verif.sbs.cocotb_layer import (
    LayerNetworkTest,
    compare_layer,
    fits,
    layer_config,
    layer_type_cover,
    network,
    test_images,
)

fail_exit.install()


async def mixed_layer_steps(bfm):
    """One layer of a per-layer-format network on the build of its format, a few images (its
    type sampled into ``sbs.layer_type``)."""
    p, n_max, ip_max, rows_max, fmt = layer_config()
    net = network()
    formats = [parse_format(f) for f in setting("APPROXNN_SBS_FORMATS", "").split(",")]
    li = int(setting("APPROXNN_SBS_LAYER", "0"))
    assert len(formats) == len(net.layers), "APPROXNN_SBS_FORMATS: one format per layer"
    assert formats[li].name == fmt.name, f"layer {li} is {formats[li].name}, build {fmt.name}"
    lay = net.layers[li]
    if not fits(lay, p, n_max, ip_max, rows_max):
        raise AssertionError(f"layer {li} ({lay.type}) does not fit the RTL built")
    T = int(setting("APPROXNN_SBS_T", "8"))
    images, labels = test_images(net, int(setting("APPROXNN_SBS_IMAGES", "1")))
    seeds = int(os.environ.get("APPROXNN_SEED", "0")) + np.arange(len(images))
    hf = HFixed()
    _, want = run(net, images, T, seeds=seeds, weights=formats, h=hf, return_all=True)
    source0 = hf.quantise_h(encode_input(images, net.input_shape, net.encoding))
    cover = layer_type_cover()
    codes = fmt.quantise(net.weights[li])
    t0 = bfm.cycles
    results, updates = [], 0
    for b in range(len(images)):
        source = source0[b] if li == 0 else want[li - 1][b]
        gen = SpikeRNG("xorshift", seeds[b:b + 1])
        got, n_up, _ = await bfm.run_layer(li, lay, codes, hf, source, gen, T)
        updates += n_up
        compare_layer(got, want[li][b], f"image {b} layer {li} ({lay.type}, {fmt.name})")
        cover.hit(lay.type)
        results.append({"image": b, "label": int(labels[b]),
                        "class": int(np.argmax(got.reshape(-1)))
                        if li == len(net.layers) - 1 else None})
    cover.check([lay.type])
    out = os.environ.get("APPROXNN_SBS_RESULT")
    if out:
        with open(out, "w") as fh:
            json.dump({"layer": li, "weights": fmt.name, "T": T, "images": len(images),
                       "updates": updates, "cycles": bfm.cycles - t0, "results": results,
                       "equal": True}, fh)


mixed_layer = register("mixed_layer", directed_test(mixed_layer_steps, LayerNetworkTest))
