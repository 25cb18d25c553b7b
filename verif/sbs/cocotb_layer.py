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

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from cores.sbs.update.update import ERR_SPIKE, F
from refmodels.sbs.formats import HFixed, parse_format
from refmodels.sbs.model import encode_input, run
from refmodels.sbs.rng import SpikeRNG, select_fixed
from verif import fail_exit
from verif.common.axi import AxiResp, frame
from verif.common.axi_env import AxiBlockBfm, DirectedTest, directed_test, register
from verif.common.coverage import DirectedCover
from verif.common.regmaps import sbs_update_map
from verif.common.settings import setting
from verif.sbs.env import checked_sweep, pack, reset_cover, unpack

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


def spike_beats(lay, spk):
    """The ``{ip, row}`` beats of one spike step: per IP, the spikes ``spk`` (source latent
    chosen per input position, -1: none) in its kernel window, kx outer, ky inner."""
    ox, oy, _ = lay.out_shape
    (kxn, kyn), (sx, sy) = lay.kernel, lay.stride
    c_in = lay.in_shape[2]
    beats = []
    for x in range(ox):
        for y in range(oy):
            ip = x * oy + y
            for kx in range(kxn):
                for ky in range(kyn):
                    c = int(spk[x * sx + kx, y * sy + ky])
                    if c >= 0:
                        beats.append((ip << 16) | ((kx * kyn + ky) * c_in + c))
    return beats


class LayerBfm(AxiBlockBfm):
    """Clock, reset, registers (model of sbs_layer.rdl) and the streams of the layer unit, and
    a clock-cycle counter; the steps of a layer run (:meth:`run_layer`)."""

    regmap_name = "sbs_layer"

    def connect_streams(self):
        self.p, self.fmt = layer_config()[0], layer_config()[4]
        self.w_src = self.agents.source("s_axis_w")
        self.h_src = self.agents.source("s_axis_h")
        self.s_src = self.agents.source("s_axis_s")
        self.sink = self.agents.sink("m_axis_h")
        self.cycles = 0
        cocotb.start_soon(self._count())

    async def _count(self):
        while True:
            await RisingEdge(self.dut.clk)
            self.cycles += 1

    async def idle(self):
        await self.wait_idle(poll=16)

    async def set_sizes(self, n_h, n_ip, n_rows, c1=None):
        await self.write_reg("N_H", n_h)
        await self.write_reg("N_IP", n_ip)
        await self.write_reg("N_ROWS", n_rows)
        if c1 is not None:
            await self.write_reg("C1", c1)

    async def load_w(self, rows):
        """LOAD_W: the weight codes ``rows`` (rows x N_H) sent."""
        await self.command(LOAD_W=1)
        await self.w_src.send(frame(pack(np.asarray(rows).ravel().tolist(), self.fmt.bits,
                                         self.p)))
        await self.w_src.wait()
        await self.idle()

    async def configure(self, lay, codes, hf):
        """N_H, IPs, rows, eps of ``lay``; its weight codes ``codes[kx, ky, c, i]`` loaded."""
        kx, ky, c, n = codes.shape
        await self.set_sizes(n, lay.n_ip, kx * ky * c, hf.eps_constants(lay.eps)[0])
        await self.load_w(codes.reshape(kx * ky * c, n))

    async def load_h(self, h):
        await self.command(LOAD=1)
        await self.h_src.send(frame(pack(np.asarray(h).ravel().tolist(), F, self.p)))
        await self.h_src.wait()
        await self.idle()

    async def spikes(self, beats):
        """Spike beats applied, the unit idle again."""
        await self.s_src.send(frame(beats))
        await self.s_src.wait()
        await self.idle()

    async def dump_h(self):
        await self.command(DUMP=1)
        fr = await self.sink.recv()
        await self.idle()
        return unpack(fr.tdata, F, self.p)

    async def run_layer(self, li, lay, codes, hf, source, gen, T):
        """Layer ``li`` of a network run on the unit from the h ``source`` of the layer below,
        ``T`` spike steps drawn as the golden model draws them (``gen``: the image's
        xorshift streams); returns the final h (ox, oy, N_H), the updates and the cycles."""
        await self.configure(lay, codes, hf)
        ox, oy, n = lay.out_shape
        await self.load_h(np.full((ox, oy, n), hf.init_h(n)))
        t0, n_up = self.cycles, 0
        for _ in range(T):
            px, py = source.shape[:2]
            u = gen.words(li, px * py).reshape(1, px, py)
            beats = spike_beats(lay, select_fixed(source[None], u)[0])
            n_up += len(beats)
            if beats:
                await self.s_src.send(frame(beats))
        await self.s_src.wait()
        await self.idle()
        cycles = self.cycles - t0
        got = np.array(await self.dump_h(), dtype=np.int64).reshape(ox, oy, n)
        return got, n_up, cycles


def compare_layer(got, want, what):
    """Fails with the first differing latent of a layer's final h."""
    if not np.array_equal(got, want):
        bad = np.argwhere(got != want)
        i = tuple(bad[0])
        raise AssertionError(f"{what}: {len(bad)} latents differ from the golden model, "
                             f"first at {i}: RTL {got[i]}, model {want[i]}")


def layer_type_cover():
    """``sbs.layer_type``: the layer types whose final h matched the golden model."""
    return DirectedCover("sbs.layer_type", ["conv", "pool", "fc", "output"], unit="sbs")


def fits(lay, p, n_max, ip_max, rows_max):
    return not (lay.n_h > n_max or lay.n_ip > ip_max or lay.n_h % p
                or np.prod(lay.weight_shape[:3]) > rows_max)


class LayerNetworkTest(DirectedTest):
    """The layer unit with random idle cycles (``APPROXNN_IDLE``, default 0.1) and
    back-pressure (``APPROXNN_BACKPRESSURE``, default 0.2), stream generator seeded 2."""

    def make_bfm(self, seed):
        return LayerBfm.from_settings(cocotb.top, 2, 0.1, 0.2)


async def network_end_to_end_steps(bfm):
    """Test images through every layer of the RTL: the final h of every layer equals the golden
    model bit for bit, and so does the class (the layer types run sampled into
    ``sbs.layer_type``)."""
    dut = bfm.dut
    p, n_max, ip_max, rows_max, fmt = layer_config()
    net = network()
    T = int(setting("APPROXNN_SBS_T", "8"))
    images, labels = test_images(net, int(setting("APPROXNN_SBS_IMAGES", "1")))
    seed = int(os.environ.get("APPROXNN_SEED", "0"))
    hf = HFixed()
    first, last = layer_range(net)
    for lay in net.layers[first:last + 1]:
        if not fits(lay, p, n_max, ip_max, rows_max):
            raise AssertionError(f"layer {lay.index} ({lay.type}) does not fit the RTL built")
    cover = layer_type_cover()
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
            got, n_up, n_cyc = await bfm.run_layer(li, lay, codes[li], hf, source, gen, T)
            cycles["updates"] += n_up
            cycles["cycles"] += n_cyc
            cycles["per_layer"].append({"image": b, "layer": li, "type": lay.type,
                                        "updates": n_up, "cycles": n_cyc})
            compare_layer(got, want_states[li][b], f"image {b} layer {li} ({lay.type})")
            cover.hit(lay.type)
            source = got
        cls = int(np.argmax(source.reshape(-1)))
        want_cls = int(np.argmax(want_states[last][b].reshape(-1)))
        assert cls == want_cls
        results.append({"image": b, "label": int(labels[b]), "class": cls})
        what = "class" if last == len(net.layers) - 1 else f"argmax of layer {last}"
        dut._log.info(f"image {b}: label {labels[b]}, RTL {what} {cls} (golden model "
                      f"{want_cls})")
    cover.check({lay.type for lay in net.layers[first:last + 1]})
    out = os.environ.get("APPROXNN_SBS_RESULT")
    if out:
        with open(out, "w") as fh:
            json.dump({"T": T, "weights": fmt.name, "p": p, "results": results, **cycles}, fh)


async def layer_registers_steps(bfm):
    """The layer registers refuse out-of-range values; a spike for a missing IP or row is
    dropped and flagged (refusals and drops sampled into ``sbs.layer_refusals``)."""
    regs = bfm.regs
    p, n_max, ip_max, rows_max, fmt = layer_config()
    cover = DirectedCover("sbs.layer_refusals", ["n_ip_low", "n_ip_high", "n_rows_low",
                                                 "n_rows_high", "spike_dropped"], unit="sbs")
    await checked_sweep(bfm, sbs_update_map(p, n_max, fmt, layer=(ip_max, rows_max)))
    config2 = await bfm.read_reg("CONFIG2")
    assert config2 == ((ip_max - 1).bit_length() | ((rows_max - 1).bit_length() << 8))
    for name, top in (("N_IP", ip_max), ("N_ROWS", rows_max)):
        for bad, side in ((0, "low"), (top + 1, "high")):
            assert await regs.write(bfm.address(name), bad) == AxiResp.SLVERR, f"{name}={bad}"
            cover.hit(f"{name.lower()}_{side}")
        await bfm.write_reg(name, top)
        assert await bfm.read_reg(name) == top
    await bfm.write_reg("N_IP", 2)
    await bfm.write_reg("N_ROWS", 3)
    await bfm.spikes([(2 << 16) | 0, (0 << 16) | 3])  # IP 2, row 3: both missing
    assert await bfm.read_reg("ERROR") == ERR_SPIKE
    assert await bfm.read_reg("DROPPED") == 2
    assert await bfm.read_reg("UPDATES") == 0
    cover.hit("spike_dropped")
    cover.check()


async def layer_maxima_and_reset_steps(bfm):
    """The layer unit at its maxima: N_H = N_MAX, N_IP = IP_MAX, N_ROWS = ROWS_MAX, spikes for
    the first and the last IP and row among random ones, every h read back and compared with
    the golden model (``update_fixed_loop`` per spike whose r passes the threshold). Then
    ``rst`` asserted mid-frame (weights partly loaded), mid-compute (spikes being applied)
    and mid-output (h partly read out), under stalls; each time the job run again equals the
    golden model (the points where a reset landed sampled into ``sbs.reset_point``)."""
    from refmodels.sbs.model import update_fixed_loop
    from verif.common.reset import POINTS, beats, reset_when

    dut, rng = bfm.dut, bfm.agents.rng
    p, n_max, ip_max, rows_max, fmt = layer_config()
    cover = reset_cover()
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
        await bfm.set_sizes(n, ip_max, rows_max, c1)
        await bfm.load_w(codes)
        await bfm.load_h(h0)
        await bfm.spikes([(ip << 16) | row for ip, row in spikes])
        return await bfm.dump_h()

    got = await job()
    assert got == want, "layer unit at its maxima: h differs from the golden model"
    n_w, n_h = rows_max * n // p, ip_max * n // p
    for point in POINTS:
        wb, sb, ob = beats("s_axis_w"), beats("s_axis_s"), beats("m_axis_h")
        cond = {"mid_frame": lambda wb=wb: 0 < beats("s_axis_w") - wb < n_w,
                "mid_compute": lambda sb=sb: 0 < beats("s_axis_s") - sb < len(spikes),
                "mid_output": lambda ob=ob: 0 < beats("m_axis_h") - ob < n_h}[point]
        task = cocotb.start_soon(job())
        landed = await reset_when(dut, task, cond, (bfm.w_src, bfm.h_src, bfm.s_src, bfm.sink))
        assert landed, f"the reset did not land {point}"
        assert await bfm.read_reg("STATUS") == 0, f"STATUS after a reset {point}"
        assert await job() == want, f"h after a reset {point} differs from the golden model"
        cover.hit(f"layer:{point}")
        dut._log.info(f"reset {point}: landed; the next job matches the golden model")
    cover.check([f"layer:{pt}" for pt in POINTS])


class LayerDirectedTest(DirectedTest):
    """A directed test of the layer unit: no idle cycles, stream generator seeded 2."""

    def make_bfm(self, seed):
        return LayerBfm(cocotb.top, 2)


class LayerMaximaTest(DirectedTest):
    """Stalls ``APPROXNN_STRESS`` (default i.i.d. 0.2; the weight frame is long; the nightly
    tier sets "bursty"), the stream agents sharing the data's generator (seed + 3)."""

    def make_bfm(self, seed):
        return LayerBfm.from_settings(cocotb.top, int(setting("APPROXNN_SEED", "0")) + 3,
                                      stress="iid:0.2")


# the test names the harness, the regression, the testplan and approxnn sbs hardware select
network_end_to_end = register("network_end_to_end",
                              directed_test(network_end_to_end_steps, LayerNetworkTest))
layer_registers = register("layer_registers",
                           directed_test(layer_registers_steps, LayerDirectedTest))
layer_maxima_and_reset = register("layer_maxima_and_reset",
                                  directed_test(layer_maxima_and_reset_steps, LayerMaximaTest))
