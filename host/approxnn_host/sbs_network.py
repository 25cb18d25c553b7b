"""A stored SbS network through the SbS layer unit, layer after layer, with the host driver
(:class:`approxnn_host.sbs.SbsLayer`): on a board, or in the system simulation on the
PYNQ-API shim.

Per image and layer the host configures the unit (latents, IPs, weight rows, the update
constant), loads the layer's weight codes and the initial h of every IP, then for each of
the T spike steps draws the spikes of the layer's source exactly as the golden model does
(``refmodels.sbs.rng``: xorshift, layer schedule, from the h read back from the unit) and sends
one ``{ip, row}`` word per received spike (kernel order: kx outer, ky inner, ``row = (kx K_Y +
ky) C + c``); DUMP returns the layer's h, the next layer's source. Needs ``refmodels.sbs``
(the repository) for the spike generator and the input encoding.
"""

from __future__ import annotations

import time

import numpy as np


def run(drv, net, images, T: int, seeds, fmt, hf, clock=None, log=None):
    """The final h of every layer for each image (list over images of lists over layers,
    int64 arrays ``(ox, oy, n)``), and per image and layer the cost: ``updates`` (spikes
    sent), ``cycles`` (``clock()`` difference, e.g. simulated fabric cycles; None without a
    clock) and ``wall_s``."""
    from refmodels.sbs.model import encode_input  # noqa: PLC0415 - repository only
    from refmodels.sbs.rng import SpikeRNG, select_fixed  # noqa: PLC0415

    codes = [np.asarray(fmt.quantise(w), np.int64) for w in net.weights]
    source0 = hf.quantise_h(encode_input(images, net.input_shape, net.encoding))
    states, costs = [], []
    for b in range(len(images)):
        gen = SpikeRNG("xorshift", np.asarray(seeds[b:b + 1]))
        source = source0[b]
        layer_states, layer_costs = [], []
        for li, lay in enumerate(net.layers):
            t0, c0 = time.perf_counter(), clock() if clock else None
            p0 = time.process_time()
            kxn, kyn, c_in, n = codes[li].shape
            ox, oy, _ = lay.out_shape
            sx, sy = lay.stride[0], lay.stride[1]
            drv.configure(n, lay.n_ip, kxn * kyn * c_in, hf.eps_constants(lay.eps)[0])
            drv.load_weights(codes[li].reshape(kxn * kyn * c_in, n))
            drv.load_h(np.full((ox * oy, n), hf.init_h(n)))
            n_up = 0
            for _ in range(T):
                px, py = source.shape[:2]
                u = gen.words(li, px * py).reshape(1, px, py)
                spk = select_fixed(source[None], u)[0]
                pairs = []
                for x in range(ox):
                    for y in range(oy):
                        ip = x * oy + y
                        win = spk[x * sx: x * sx + kxn, y * sy: y * sy + kyn]
                        for kx in range(kxn):
                            for ky in range(kyn):
                                c = int(win[kx, ky])
                                if c >= 0:
                                    pairs.append((ip, (kx * kyn + ky) * c_in + c))
                if pairs:
                    drv.spikes(pairs)
                n_up += len(pairs)
            h = drv.dump().reshape(ox, oy, n)
            layer_states.append(h)
            layer_costs.append({"layer": li, "type": lay.type, "updates": n_up,
                                "cycles": None if clock is None else clock() - c0,
                                "wall_s": time.perf_counter() - t0,
                                "cpu_s": time.process_time() - p0})
            if log:
                log(f"image {b} layer {li} ({lay.type}): {n_up} updates")
            source = h
        states.append(layer_states)
        costs.append(layer_costs)
    return states, costs
