"""The register maps of the AXI blocks as :class:`~verif.common.regmap.RegisterMap` objects for
the register sweep, built from the register models generated from the blocks' SystemRDL
(:mod:`cores.common.regmap`): every address, name, access code, reset value and writable-bit
mask comes from there. What a description of the register *layout* does not hold is added per
build here: the reset values of configuration registers (they depend on the generation
parameters), the values a range-checked register accepts (sweep stimulus), which registers
change by themselves (status, counters) and which writes are commands."""

from __future__ import annotations

from cores.common import regmap as rdl
from verif.common.regmap import Reg, RegisterMap

#: registers that change by themselves or whose writes act (start, clear, pending commands)
_VOLATILE = {"STATUS", "ROW_CYCLES", "CTRL", "ERROR", "UPDATES", "SKIPPED", "DROPPED",
             "SPIKES", "CYCLES"}
_COMMAND = {"CTRL", "ERROR"}


def _from_model(block, name, facts, skip=()):
    """``facts``: register name -> Reg keyword overrides (build-dependent values)."""
    model = rdl.load(block)
    rmap = RegisterMap(name, model.size // 4)
    for r in model:
        if r.name in skip:
            continue
        for i in range(r.count):
            label = r.name if r.count == 1 else f"{r.name}[{i}]"
            kw = {"reset": r.reset if r.count == 1 else None,  # tables: memories
                  "mask": r.writable_mask or 0xFFFFFFFF, "volatile": r.name in _VOLATILE,
                  "command": r.name in _COMMAND}
            kw.update(facts.get(label, facts.get(r.name, {})))
            if kw.pop("unmapped", False):
                continue
            rmap.add(r.address(i) // 4, Reg(label, r.access, **kw))
    return rmap


def _upto(top):
    """A few values of 1..top, ``top`` included."""
    return tuple(sorted(v for v in {1, 2, top // 2, top} if 1 <= v <= top))


def sbs_update_map(p, n_max, fmt, layer=None):
    """The SbS update unit (``layer=None``) or layer unit (``layer=(ip_max, rows_max)``)."""
    config = p | ((n_max - 1).bit_length() << 8) | (fmt.e_bits << 16) | (fmt.m_bits << 20) \
        | (24 << 24)
    facts = {
        "CONFIG": {"reset": config},
        "N_H": {"reset": n_max, "legal": tuple(range(max(2, p), n_max + 1, p))},
        "C1": {"legal": (65536, 70000, 99999, 131071)},
    }
    if layer is None:
        return _from_model("sbs_update", "sbs_update", facts)
    ip_max, rows_max = layer
    facts.update({
        "N_IP": {"legal": _upto(ip_max)},
        "N_ROWS": {"reset": rows_max, "legal": _upto(rows_max)},
        "CONFIG2": {"reset": (ip_max - 1).bit_length() | ((rows_max - 1).bit_length() << 8)},
    })
    return _from_model("sbs_layer", "sbs_layer", facts)


def spikegen_map(n_max, src_max):
    facts = {
        # log2 of the sizes, at least 1 (cores/sbs/spikegen/spikegen.py _clog2)
        "CONFIG": {"reset": max(1, (n_max - 1).bit_length())
                   | (max(1, (src_max - 1).bit_length()) << 8)},
        "N_H": {"reset": n_max, "legal": _upto(n_max)},
        "N_SRC": {"legal": _upto(src_max)},
        "LAYER": {"legal": (0, 1, 5, 1000, 2047)},
    }
    return _from_model("sbs_spikegen", "sbs_spikegen", facts)


def engine_map(lanes, ibuf, wbuf, cmax, hf6, hetero=False):
    """The CNN layer engine; channel tables of ``cmax`` entries (BIAS only in the HF6 build,
    where QUANT is the 2-bit ACT field). The tables have no reset; they are 0 at power-up (their
    memories' initial value) until written. MODE.MUL is kept only by a heterogeneous build
    (``hetero``), the others read it 0."""
    caps = lanes | ((ibuf.bit_length() - 1) << 8) | ((wbuf.bit_length() - 1) << 16) \
        | (cmax << 24) | (int(hf6) << 31)
    model = rdl.load("cnn_engine")
    facts = {"CAPS": {"reset": caps}}
    names = {f.name for f in model["MODE"].fields}
    mode_mask = model["MODE"].writable_mask
    if "MUL" in names and not hetero:
        mode_mask &= ~model["MODE"].field("MUL").mask
    if hf6:  # ACT: bits 1:0, the reserved value 3 refused; MODE keeps no int8-only bits
        facts["QUANT"] = {"mask": 0x3, "legal": (0, 1, 2, 0xFFFFFFF1, 0x7FFFFFF2)}
        if "FLOAT_SCALE" in names:
            mode_mask &= ~model["MODE"].field("FLOAT_SCALE").mask
    if mode_mask != model["MODE"].writable_mask:
        facts["MODE"] = {"mask": mode_mask}
    tables = [r for r in model if r.count > 1]
    for r in tables:
        int8_only = r.name != "BIAS"
        for c in range(r.count):
            if c >= cmax or (hf6 and int8_only):
                facts[f"{r.name}[{c}]"] = {"unmapped": True}
            elif r.name == "BIAS" and hf6:
                facts[f"{r.name}[{c}]"] = {"mask": 0x3F, "initial": 0}
            else:
                facts[f"{r.name}[{c}]"] = {"initial": 0}
    return _from_model("cnn_engine", "cnn_engine_hf6" if hf6 else "cnn_engine", facts)
