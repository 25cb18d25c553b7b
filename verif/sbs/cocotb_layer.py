"""cocotb tests of the SbS layer unit (``sbs_layer``), directed pyuvm tests on the AXI blocks'
base (verif/common/axi_env.py): a whole network, layer after layer, through the RTL, compared
bit for bit with the golden model; the layer registers; the unit at its maxima and reset
during traffic.

Configuration from the environment: ``APPROXNN_SBS_P``, ``APPROXNN_SBS_NMAX``,
``APPROXNN_SBS_IPMAX``, ``APPROXNN_SBS_ROWSMAX``, ``APPROXNN_SBS_WEIGHTS`` (the RTL built),
``APPROXNN_SBS_NETWORK`` (a stored network name or path, default ``digits``),
``APPROXNN_SBS_T`` (spike steps), ``APPROXNN_SBS_IMAGES`` (held-out test images),
``APPROXNN_SBS_LAYERS`` (``first-last``: run only these layers on this unit, the input of the
first being the golden model's h of the layer below, which an earlier run on another unit
matched bit for bit; default all),
``APPROXNN_SEED``, ``APPROXNN_IDLE`` / ``APPROXNN_BACKPRESSURE``, ``APPROXNN_SBS_RESULT``
(JSON file for the measured figures).

The spikes are drawn exactly as the golden model draws them (``refmodels.sbs.rng``, xorshift,
layer schedule) from the h read back from the RTL; the RTL receives, per spike step and IP, one
``{ip, row}`` beat per received spike in kernel order (kx outer, ky inner), with
``row = (kx K_Y + ky) C + c``.
"""

import json
import os
import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge

from cores.sbs.update.update import ERR_SPIKE, REG, F
from refmodels.sbs.formats import HFixed, parse_format
from refmodels.sbs.model import encode_input, run
from refmodels.sbs.rng import SpikeRNG, select_fixed
from verif import fail_exit
from verif.common.axi import AxiResp, StreamAgents, frame
from verif.common.axi_env import AxiBlockBfm, DirectedSeq, DirectedTest, register
from verif.common.regmap import sweep
from verif.common.regmaps import sbs_update_map
from verif.sbs.env import pack, setting, unpack

fail_exit.install()


def layer_config():
    return (int(setting("APPROXNN_SBS_P", "2")), int(setting("APPROXNN_SBS_NMAX", "32")),
            int(setting("APPROXNN_SBS_IPMAX", "16")), int(setting("APPROXNN_SBS_ROWSMAX", "128")),
            parse_format(setting("APPROXNN_SBS_WEIGHTS", "e4m1")))


def network():
    from refmodels.sbs.evaluate import load_named

    return load_named(setting("APPROXNN_SBS_NETWORK", "digits"))[0]


def layer_range(net):
    """(first, last) layer indices of ``APPROXNN_SBS_LAYERS`` (default every layer)."""
    spec = setting("APPROXNN_SBS_LAYERS", "")
    if not spec:
        return 0, len(net.layers) - 1
    first, _, last = spec.partition("-")
    first, last = int(first), int(last or first)
    if not 0 <= first <= last < len(net.layers):
        raise ValueError(f"APPROXNN_SBS_LAYERS={spec}: the network has {len(net.layers)} layers")
    return first, last


def test_images(net, count):
    from refmodels.sbs.train import load_digits_split, load_mnist_split

    loader = load_digits_split if net.input_shape == (8, 8) else load_mnist_split
    _, _, x_test, y_test = loader()
    return x_test[:count], y_test[:count]


class LayerDriver:
    """Registers and streams of the layer unit."""

    def __init__(self, dut, regs, p, fmt, idle, backpressure):
        self.dut, self.regs, self.p, self.fmt = dut, regs, p, fmt
        agents = StreamAgents(dut, random.Random(2), idle=idle, backpressure=backpressure)
        self.w_src = agents.source("s_axis_w")
        self.h_src = agents.source("s_axis_h")
        self.s_src = agents.source("s_axis_s")
        self.sink = agents.sink("m_axis_h")

    async def idle(self):
        while (await self.regs.read_ok(REG["STATUS"])) & 1:
            await ClockCycles(self.dut.clk, 16)

    async def configure(self, lay, codes, hf):
        """N_H, IPs, rows, eps of ``lay``; its weight codes ``codes[kx, ky, c, i]`` loaded."""
        kx, ky, c, n = codes.shape
        await self.regs.write_ok(REG["N_H"], n)
        await self.regs.write_ok(REG["N_IP"], lay.n_ip)
        await self.regs.write_ok(REG["N_ROWS"], kx * ky * c)
        await self.regs.write_ok(REG["C1"], hf.eps_constants(lay.eps)[0])
        await self.regs.write_ok(REG["CTRL"], 8)  # LOAD_W
        rows = codes.reshape(kx * ky * c, n)
        await self.w_src.send(frame(pack(rows.ravel().tolist(), self.fmt.bits, self.p)))
        await self.w_src.wait()
        await self.idle()

    async def load_h(self, h):
        await self.regs.write_ok(REG["CTRL"], 1)
        await self.h_src.send(frame(pack(np.asarray(h).ravel().tolist(), F, self.p)))
        await self.h_src.wait()
        await self.idle()

    async def dump_h(self):
        await self.regs.write_ok(REG["CTRL"], 2)
        fr = await self.sink.recv()
        await self.idle()
        return unpack(fr.tdata, F, self.p)


class Cycles:
    """Counts clock cycles from its creation."""

    def __init__(self, dut):
        self.n = 0
        cocotb.start_soon(self._run(dut))

    async def _run(self, dut):
        while True:
            await RisingEdge(dut.clk)
            self.n += 1


class LayerBfm(AxiBlockBfm):
    """Clock, reset and registers (model of sbs_layer.rdl) of the layer unit; its streams are
    the :class:`LayerDriver`'s."""

    regmap_name = "sbs_layer"


class LayerDirectedTest(DirectedTest):
    def make_bfm(self, seed):
        return LayerBfm(cocotb.top, seed)


class NetworkEndToEndSeq(DirectedSeq):
    """Test images through every layer of the RTL: the final h of every layer equals the golden
    model bit for bit, and so does the class."""

    async def steps(self, bfm):
        await network_end_to_end_steps(bfm.dut, bfm.regs)


async def network_end_to_end_steps(dut, regs):
    p, n_max, ip_max, rows_max, fmt = layer_config()
    net = network()
    T = int(setting("APPROXNN_SBS_T", "8"))
    images, labels = test_images(net, int(setting("APPROXNN_SBS_IMAGES", "1")))
    seed = int(os.environ.get("APPROXNN_SEED", "0"))
    hf = HFixed()
    first, last = layer_range(net)
    for lay in net.layers[first:last + 1]:
        if lay.n_h > n_max or lay.n_ip > ip_max or lay.n_h % p or \
                np.prod(lay.weight_shape[:3]) > rows_max:
            raise AssertionError(f"layer {lay.index} ({lay.type}) does not fit the RTL built")
    clock = Cycles(dut)
    drv = LayerDriver(dut, regs, p, fmt, float(os.environ.get("APPROXNN_IDLE", "0.1")),
                      float(os.environ.get("APPROXNN_BACKPRESSURE", "0.2")))
    seeds = seed + np.arange(len(images))
    _, want_states = run(net, images, T, seeds=seeds, weights=fmt, h=hf, return_all=True)
    source0 = hf.quantise_h(encode_input(images, net.input_shape, net.encoding))
    codes = [fmt.quantise(w) for w in net.weights]
    cycles = {"updates": 0, "cycles": 0, "layers": [first, last], "per_layer": []}
    results = []
    for b in range(len(images)):
        # the xorshift streams of a source layer do not depend on the other layers
        gen = SpikeRNG("xorshift", seeds[b:b + 1])
        source = source0[b] if first == 0 else want_states[first - 1][b]
        for li in range(first, last + 1):
            lay = net.layers[li]
            await drv.configure(lay, codes[li], hf)
            ox, oy, n = lay.out_shape
            await drv.load_h(np.full((ox, oy, n), hf.init_h(n)))
            (kxn, kyn), (sx, sy) = lay.kernel, lay.stride
            c_in = lay.in_shape[2]
            t0 = clock.n
            n_up = 0
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
                n_up += len(beats)
                if beats:
                    await drv.s_src.send(frame(beats))
            await drv.s_src.wait()
            await drv.idle()
            cycles["updates"] += n_up
            cycles["cycles"] += clock.n - t0
            cycles["per_layer"].append({"image": b, "layer": li, "type": lay.type,
                                        "updates": n_up, "cycles": clock.n - t0})
            got = np.array(await drv.dump_h(), dtype=np.int64).reshape(ox, oy, n)
            want = want_states[li][b]
            if not np.array_equal(got, want):
                bad = np.argwhere(got != want)
                i = tuple(bad[0])
                raise AssertionError(
                    f"image {b} layer {li} ({lay.type}): {len(bad)} latents differ from the "
                    f"golden model, first at {i}: RTL {got[i]}, model {want[i]}")
            source = got
        cls = int(np.argmax(source.reshape(-1)))
        want_cls = int(np.argmax(want_states[last][b].reshape(-1)))
        assert cls == want_cls
        results.append({"image": b, "label": int(labels[b]), "class": cls})
        what = "class" if last == len(net.layers) - 1 else f"argmax of layer {last}"
        dut._log.info(f"image {b}: label {labels[b]}, RTL {what} {cls} (golden model "
                      f"{want_cls})")
    out = os.environ.get("APPROXNN_SBS_RESULT")
    if out:
        with open(out, "w") as fh:
            json.dump({"T": T, "weights": fmt.name, "p": p, "results": results, **cycles}, fh)


class LayerRegistersSeq(DirectedSeq):
    """The layer registers refuse out-of-range values; a spike for a missing IP or row is
    dropped and flagged."""

    async def steps(self, bfm):
        await layer_registers_steps(bfm.dut, bfm.regs)


async def layer_registers_steps(dut, regs):
    p, n_max, ip_max, rows_max, fmt = layer_config()
    problems = await sweep(regs, sbs_update_map(p, n_max, fmt, layer=(ip_max, rows_max)),
                           log=dut._log)
    assert not problems, f"{len(problems)} problem(s): " + "; ".join(problems[:5])
    config2 = await regs.read_ok(REG["CONFIG2"])
    assert config2 == ((ip_max - 1).bit_length() | ((rows_max - 1).bit_length() << 8))
    for name, top in (("N_IP", ip_max), ("N_ROWS", rows_max)):
        assert await regs.write(REG[name], 0) == AxiResp.SLVERR
        assert await regs.write(REG[name], top + 1) == AxiResp.SLVERR
        await regs.write_ok(REG[name], top)
        assert await regs.read_ok(REG[name]) == top
    await regs.write_ok(REG["N_IP"], 2)
    await regs.write_ok(REG["N_ROWS"], 3)
    drv = LayerDriver(dut, regs, p, fmt, 0.0, 0.0)
    await drv.s_src.send(frame([(2 << 16) | 0, (0 << 16) | 3]))  # IP 2, row 3: both missing
    await drv.s_src.wait()
    await drv.idle()
    assert await regs.read_ok(REG["ERROR"]) == ERR_SPIKE
    assert await regs.read_ok(REG["DROPPED"]) == 2
    assert await regs.read_ok(REG["UPDATES"]) == 0


class LayerMaximaAndResetSeq(DirectedSeq):
    """The layer unit at its maxima: N_H = N_MAX, N_IP = IP_MAX, N_ROWS = ROWS_MAX, spikes for
    the first and the last IP and row among random ones, every h read back and compared with
    the golden model (``update_fixed_loop`` per spike whose r passes the threshold). Then
    ``rst`` asserted mid-frame (weights partly loaded), mid-compute (spikes being applied)
    and mid-output (h partly read out), under stalls (``APPROXNN_STRESS``, default i.i.d.
    0.2); each time the job run again
    equals the golden model."""

    async def steps(self, bfm):
        await layer_maxima_and_reset_steps(bfm.dut, bfm.regs)


async def layer_maxima_and_reset_steps(dut, regs):
    from refmodels.sbs.model import update_fixed_loop
    from verif.common.reset import POINTS, beats, reset_when

    p, n_max, ip_max, rows_max, fmt = layer_config()
    rng = random.Random(int(os.environ.get("APPROXNN_SEED", "0")) + 3)
    drv = LayerDriver(dut, regs, p, fmt, 0.0, 0.0)
    # i.i.d. stalls by default (the weight frame is long); the nightly tier sets "bursty"
    agents = StreamAgents(dut, rng, stress=os.environ.get("APPROXNN_STRESS", "iid:0.2"))
    drv.w_src, drv.h_src, drv.s_src, drv.sink = (agents.source("s_axis_w"),
                                                 agents.source("s_axis_h"),
                                                 agents.source("s_axis_s"),
                                                 agents.sink("m_axis_h"))
    hf = HFixed()
    c1, ce = hf.eps_constants(0.1)
    n = n_max
    codes = np.array([[(rng.randrange(fmt.emax + 1) << fmt.m_bits) | rng.randrange(
        1 << fmt.m_bits) for _ in range(n)] for _ in range(rows_max)])
    h0 = np.array([[rng.randrange(1, 1 << (F - 6)) for _ in range(n)] for _ in range(ip_max)])
    spikes = [(0, 0), (ip_max - 1, rows_max - 1), (ip_max - 1, 0), (0, rows_max - 1)]
    spikes += [(rng.randrange(ip_max), rng.randrange(rows_max)) for _ in range(24)]

    want = [list(map(int, h)) for h in h0]
    wint = [[int(x) for x in fmt.to_int(row)] for row in codes]
    for ip, row in spikes:
        if sum(a * b for a, b in zip(want[ip], wint[row], strict=True)) > hf.theta_q:
            want[ip] = update_fixed_loop(want[ip], wint[row], c1, ce, hf)
    want = np.array(want, dtype=np.int64).ravel().tolist()

    async def job():
        await regs.write_ok(REG["N_H"], n)
        await regs.write_ok(REG["N_IP"], ip_max)
        await regs.write_ok(REG["N_ROWS"], rows_max)
        await regs.write_ok(REG["C1"], c1)
        await regs.write_ok(REG["CTRL"], 8)  # LOAD_W
        await drv.w_src.send(frame(pack(codes.ravel().tolist(), fmt.bits, p)))
        await drv.w_src.wait()
        await drv.idle()
        await drv.load_h(h0)
        await drv.s_src.send(frame([(ip << 16) | row for ip, row in spikes]))
        await drv.s_src.wait()
        await drv.idle()
        return await drv.dump_h()

    got = await job()
    assert got == want, "layer unit at its maxima: h differs from the golden model"
    n_w, n_h = rows_max * n // p, ip_max * n // p
    for point in POINTS:
        wb, sb, ob = beats("s_axis_w"), beats("s_axis_s"), beats("m_axis_h")
        cond = {"mid_frame": lambda wb=wb: 0 < beats("s_axis_w") - wb < n_w,
                "mid_compute": lambda sb=sb: 0 < beats("s_axis_s") - sb < len(spikes),
                "mid_output": lambda ob=ob: 0 < beats("m_axis_h") - ob < n_h}[point]
        task = cocotb.start_soon(job())
        landed = await reset_when(dut, task, cond, (drv.w_src, drv.h_src, drv.s_src, drv.sink))
        assert landed, f"the reset did not land {point}"
        assert await regs.read_ok(REG["STATUS"]) == 0, f"STATUS after a reset {point}"
        assert await job() == want, f"h after a reset {point} differs from the golden model"
        dut._log.info(f"reset {point}: landed; the next job matches the golden model")


class LayerNetworkTest(LayerDirectedTest):
    sequence_class = NetworkEndToEndSeq


class LayerRegisterTest(LayerDirectedTest):
    sequence_class = LayerRegistersSeq


class LayerMaximaResetTest(LayerDirectedTest):
    sequence_class = LayerMaximaAndResetSeq


# the test names the harness, the regression, the testplan and approxnn sbs hardware select
network_end_to_end = register("network_end_to_end", LayerNetworkTest)
layer_registers = register("layer_registers", LayerRegisterTest)
layer_maxima_and_reset = register("layer_maxima_and_reset", LayerMaximaResetTest)
