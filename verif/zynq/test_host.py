"""Host side without a simulator: the bare-metal C example builds with the host gcc against
stub BSP headers and the generated register header, its addresses are the block design's,
and the driver's weight packing equals the testbench's."""

import re
import shutil
import subprocess

import numpy as np
import pytest
from approxnn.eda.sim import REPO_ROOT
from approxnn_host.cnn import pack_weights
from approxnn_host.layers import weight_words

from fpga.boards import DMA_BASE, DMA_STRIDE, SYSTEMS
from verif.cnn.engine.layers import make_layer

C_DIR = REPO_ROOT / "host" / "c"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_bare_metal_example_compiles(tmp_path):
    cmd = ["gcc", "-c", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", str(C_DIR / "stub"),
           "-I", str(C_DIR), "-I", str(REPO_ROOT / "cores" / "cnn" / "engine" / "regs"),
           str(C_DIR / "cnn_layer.c"), "-o", str(tmp_path / "cnn_layer.o")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cnn_layer.o").stat().st_size > 0


def test_bare_metal_example_uses_the_block_design_addresses():
    text = (C_DIR / "cnn_layer.c").read_text()
    got = {m[0]: int(m[1], 16) for m in re.findall(r"#define (\w+)_BASE\s+(0x[0-9A-Fa-f]+)u", text)}
    engine = SYSTEMS["cnn"].accels[0]
    want = {"ENGINE": engine.offset}
    want.update({d.name.upper(): DMA_BASE + i * DMA_STRIDE for i, d in enumerate(engine.dmas)})
    assert got == want


@pytest.mark.parametrize("kind, args", [
    ("conv_same", (5, 4, 3, 6, 3, 3, 1, 1, "SAME")),
    ("partial_group", (4, 4, 5, 7, 2, 2, 1, 1, "VALID")),
    ("depthwise", (5, 4, 3, 3, 3, 3, 1, 1, "SAME")),
    ("fc", (1, 1, 24, 9, 1, 1, 1, 1, "VALID")),
])
@pytest.mark.parametrize("lanes", [1, 4, 8])
def test_weight_packing_follows_the_stream_order(kind, args, lanes):
    """The driver's packing (which the testbench's ``weight_words`` uses too) against the
    engine's s_axis_w order written out tap by tap: per channel group, per tap (ky, kx, ci),
    lane i = channel g * P + i (0 beyond OC); depthwise: per channel, per tap (ky, kx), the
    weight in lane 0."""
    lay = make_layer(np.random.default_rng(3), kind, *args)
    if lay.depthwise:
        want = [int(lay.wt[0, ky, kx, ch]) & 0xFF for ch in range(lay.oc)
                for ky in range(lay.fh) for kx in range(lay.fw)]
    else:
        want = []
        for g in range(-(-lay.oc // lanes)):
            for ky in range(lay.fh):
                for kx in range(lay.fw):
                    for ci in range(lay.c):
                        want.append(sum((int(lay.wt[g * lanes + i, ky, kx, ci]) & 0xFF) << (8 * i)
                                        for i in range(lanes) if g * lanes + i < lay.oc))
    assert weight_words(lay, lanes) == want
    packed = b"".join(v.to_bytes(lanes, "little") for v in want)
    assert pack_weights(lay.wt, lay.oc, lanes, lay.depthwise).tobytes() == packed


def test_vectors_round_trip(tmp_path):
    from approxnn_host import selftest, vectors  # noqa: PLC0415

    layers, outputs = vectors.make(4, 5)
    path = tmp_path / "v.npz"
    vectors.save(path, layers, outputs)
    assert not list(tmp_path.glob("*.part*")), "a temporary file left behind"
    back = vectors.load(path)
    assert len(back) == 4
    for lay, (got, y) in zip(layers, back, strict=True):
        assert np.array_equal(y, vectors_golden(lay))
        for k in vectors.SCALARS:
            assert getattr(got, k) == int(getattr(lay, k)), k
        assert (got.wt is None) == (lay.wt is None)
        assert np.array_equal(got.x, lay.x)
    assert selftest.main(["only-one-argument"]) == 2


def vectors_golden(lay):
    from verif.cnn.engine.layers import golden  # noqa: PLC0415

    return golden(lay, None)


def test_board_bundle_imports_without_the_repository(tmp_path):
    """The files the board README copies are enough: the driver and its register model load
    outside the repository (python -I: no PYTHONPATH, no current folder)."""
    pkg = tmp_path / "approxnn_host"
    pkg.mkdir()
    for f in (REPO_ROOT / "host" / "approxnn_host").glob("*.py"):
        shutil.copy(f, pkg)
    shutil.copy(REPO_ROOT / "cores" / "common" / "regmap.py", pkg)
    shutil.copy(REPO_ROOT / "cores" / "cnn" / "engine" / "regs" / "cnn_engine.json", pkg)
    shutil.copy(REPO_ROOT / "cores" / "sbs" / "update" / "regs" / "sbs_layer.json", pkg)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from approxnn_host.regs import load_regmap; from approxnn_host import cnn, sbs, "
            "selftest; m = load_regmap('cnn_engine'); print(m.block, hex(m.id_value)); "
            "print(load_regmap('sbs_layer').block)")
    import sys  # noqa: PLC0415

    proc = subprocess.run([sys.executable, "-I", "-c", code, str(tmp_path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    from cores.common import regmap  # noqa: PLC0415

    assert proc.stdout.split() == ["cnn_engine", hex(regmap.load("cnn_engine").id_value),
                                   "sbs_layer"]


def test_dma_model_registers():
    """The simple-mode register behaviour of the DMA model, without a simulator: halted after
    reset, run/stop and idle, addresses, interrupt enables and RW1C of DMASR, soft reset, an
    absent channel reading 0, and introut = status AND enable."""
    from verif.zynq import dma_model as dm  # noqa: PLC0415

    m = dm.AxiDmaModel("dma", clock=None, mem=None, mm2s=object(), mm2s_bytes=1)
    assert m.read(dm.MM2S + dm.DMASR)[0] == dm.HALTED
    m.write(dm.MM2S + dm.DMACR, dm.RS | dm.IOC_EN)
    assert m.read(dm.MM2S + dm.DMACR)[0] == dm.RS | dm.IOC_EN
    assert m.read(dm.MM2S + dm.DMASR)[0] == dm.IDLE
    m.write(dm.MM2S + dm.ADDR, 0x1234_5678)
    assert m.read(dm.MM2S + dm.ADDR)[0] == 0x1234_5678
    ch = m.ch[dm.MM2S]
    ch.sr |= dm.IOC | dm.ERR_IRQ
    assert ch.introut  # IOC and its enable
    m.write(dm.MM2S + dm.DMASR, dm.IOC)  # write 1 clears IOC only
    assert m.read(dm.MM2S + dm.DMASR)[0] == dm.IDLE | dm.ERR_IRQ
    assert not ch.introut  # the error interrupt is not enabled
    m.write(dm.MM2S + dm.DMACR, dm.RS | dm.ERR_EN)
    assert ch.introut
    m.write(dm.MM2S + dm.DMACR, dm.RESET)
    assert m.read(dm.MM2S + dm.DMASR)[0] == dm.HALTED and m.read(dm.MM2S + dm.DMACR)[0] == 0
    m.write(dm.MM2S + dm.LENGTH, 64)  # halted: no transfer starts
    assert not ch.busy
    assert m.read(dm.S2MM + dm.DMASR)[0] == 0  # no S2MM channel in this DMA


@pytest.mark.parametrize("width, p", [(5, 2), (24, 2), (5, 4), (24, 1)])
def test_sbs_driver_packing_equals_the_testbench(width, p):
    from approxnn_host.sbs import pack_beats, unpack_beats  # noqa: PLC0415

    from verif.sbs.env import pack  # noqa: PLC0415

    rng = np.random.default_rng(width * 10 + p)
    values = rng.integers(0, 1 << width, 8 * p).tolist()
    data = pack_beats(values, width, p)
    nb = len(data) // 8
    assert nb in (1, 2, 4, 8, 16) and nb * 8 >= width * p  # padded to a power of two
    words = [int.from_bytes(bytes(data[i:i + nb]), "little") for i in range(0, len(data), nb)]
    assert words == pack(values, width, p)
    assert unpack_beats(data, width, p).tolist() == values
