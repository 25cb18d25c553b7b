"""Stress patterns and the register-map object (no simulator needed)."""

import itertools
import random

import pytest
from cocotbext.axi import AxiResp

from verif.common import stress
from verif.common.regmap import Reg, RegisterMap
from verif.common.regmaps import engine_map, sbs_update_map, spikegen_map


def _runs(bits):
    """Lengths of the runs of True in ``bits``."""
    return [len(list(g)) for k, g in itertools.groupby(bits) if k]


def _take(spec, n=50000, depth=16, seed=1):
    return list(itertools.islice(stress.make(spec, random.Random(seed), depth), n))


def test_iid_rate():
    bits = _take("iid:0.3")
    assert 0.28 < sum(bits) / len(bits) < 0.32


def test_bursty_has_long_stalls_and_active_runs():
    runs = _runs(_take("bursty"))
    assert min(runs) >= 10 and max(runs) >= 200  # stalls of tens to hundreds of cycles
    assert not all(_take("bursty"))


def test_mixed_and_stop_reach_four_times_the_fifo_depth():
    assert max(_runs(_take("mixed", depth=16))) >= 64
    assert max(_runs(_take("stop:100"))) >= 100
    assert max(_runs(_take("iidb:0.2", depth=32))) >= 128


def test_same_seed_same_pattern_and_bad_name():
    assert _take("mixed", 5000, seed=3) == _take("mixed", 5000, seed=3)
    with pytest.raises(ValueError, match="unknown stress pattern"):
        stress.make("sometimes", random.Random(1))


def test_register_map_object():
    m = RegisterMap("blk", 4)
    m.add(0, Reg("ID", "R", reset=7))
    m.add(1, Reg("CTRL", "W", command=True))
    with pytest.raises(ValueError):
        m.add(4, Reg("X"))
    with pytest.raises(ValueError):
        m.add(0, Reg("Y"))
    assert m.expected_response(0, write=False) == AxiResp.OKAY
    assert m.expected_response(0, write=True) == AxiResp.SLVERR
    assert m.expected_response(1, write=True) == AxiResp.OKAY
    assert m.expected_response(3, write=False) == AxiResp.SLVERR


def test_block_maps_follow_the_register_models():
    from refmodels.sbs.formats import parse_format

    upd = sbs_update_map(4, 64, parse_format("e4m1"))
    lay = sbs_update_map(2, 32, parse_format("e4m1"), layer=(16, 128))
    assert upd.window_words == 16 and 13 not in upd.regs and lay.regs[13].name == "N_IP"
    assert upd.regs[5].reset == 64 and all(v % 4 == 0 for v in upd.regs[5].legal)
    sg = spikegen_map(16, 1)
    assert sg.regs[6].legal == (1,)
    from cores.common.regmap import load

    model = load("cnn_engine")
    plain = [r for r in model if r.count == 1]
    tables = [r for r in model if r.count > 1]
    eng = engine_map(4, 1024, 512, 16, hf6=False)
    assert eng.window_words == model.size // 4
    assert len(eng.regs) == len(plain) + len(tables) * 16
    assert eng.regs[model.word("CAPS")].reset == 4 | (10 << 8) | (9 << 16) | (16 << 24)
    assert model.word("BIAS") + 16 not in eng.regs
    assert len(engine_map(4, 1024, 512, 16, hf6=True).regs) == len(plain) + 16
