"""Yosys synth_xilinx -family xc7 of small CNN-block configurations: the exact int8 MAC packs
two lanes per DSP48E1; an approximate MAC array uses no DSP48E1 (LUT logic only)."""

import shutil

import pytest

from cores.cnn.cost import cost

pytestmark = [
    pytest.mark.synth,
    pytest.mark.skipif(shutil.which("yosys") is None, reason="needs yosys"),
]


def test_exact_int8_packs_two_lanes_per_dsp():
    packed = cost("mac", flows=("dsp",), lanes=2, mul="int8")
    plain = cost("mac", flows=("dsp",), lanes=2, mul="int8", pack=False)
    assert packed["dsps"] == 1, packed
    assert plain["dsps"] == 2, plain


def test_approximate_unit_uses_no_dsp():
    c = cost("mac", flows=("dsp",), lanes=1, mul="mitchell:signed=1")
    assert c["dsps"] == 0 and c["luts"] > 0, c
