"""The register maps of the AXI blocks as :class:`~verif.common.regmap.RegisterMap` objects,
built from the cores' ``REGISTERS`` tables plus the facts their READMEs state (reset values,
field widths, accepted ranges). A register description in another format only has to produce
the same objects."""

from __future__ import annotations

from verif.common.regmap import FULL, Reg, RegisterMap

#: how the core tables' access codes map onto Reg.access
_ACCESS = {"R": "R", "RW": "RW", "W": "W", "RW1C": "RW1C"}


def _from_table(name, window_words, table, facts):
    """``table``: (byte address, name, access, description) rows; ``facts``: name -> Reg
    keyword overrides."""
    rmap = RegisterMap(name, window_words)
    for addr, rname, access, _ in table:
        rmap.add(addr // 4, Reg(rname, _ACCESS[access], **facts.get(rname, {})))
    return rmap


def sbs_update_map(p, n_max, fmt, layer=None):
    """The SbS update unit (``layer=None``) or layer unit (``layer=(ip_max, rows_max)``)."""
    from cores.sbs.update.update import ID_VALUE, LAYER_REGISTERS, REGISTERS  # noqa: PLC0415
    from refmodels.sbs.formats import HFixed  # noqa: PLC0415

    config = p | ((n_max - 1).bit_length() << 8) | (fmt.e_bits << 16) | (fmt.m_bits << 20) \
        | (24 << 24)
    counters = {"reset": 0}
    facts = {
        "ID": {"reset": ID_VALUE},
        "CONFIG": {"reset": config},
        "CTRL": {"command": True, "volatile": True, "reset": 0},
        "STATUS": {"volatile": True},
        "ERROR": {"command": True, "volatile": True, "reset": 0},
        "N_H": {"reset": n_max, "legal": tuple(range(max(2, p), n_max + 1, p))},
        "C1": {"reset": HFixed().eps_constants(0.1)[0], "legal": (65536, 70000, 99999, 131071)},
        "THETA_LO": {"reset": 0}, "THETA_HI": {"reset": 0},
        "UPDATES": counters, "SKIPPED": counters, "DROPPED": counters,
        "ROW_CYCLES": {"volatile": True},
    }
    table = REGISTERS
    if layer is not None:
        ip_max, rows_max = layer
        facts.update({
            "N_IP": {"reset": 1, "legal": _upto(ip_max)},
            "N_ROWS": {"reset": rows_max, "legal": _upto(rows_max)},
            "CONFIG2": {"reset": (ip_max - 1).bit_length() | ((rows_max - 1).bit_length() << 8)},
        })
        table = REGISTERS + LAYER_REGISTERS
    name = "sbs_layer" if layer else "sbs_update"
    return _from_table(name, 16, table, facts)


def _upto(top):
    """A few values of 1..top, ``top`` included."""
    return tuple(sorted(v for v in {1, 2, top // 2, top} if 1 <= v <= top))


def spikegen_map(n_max, src_max):
    from cores.sbs.spikegen.spikegen import ID_VALUE, REGISTERS  # noqa: PLC0415

    facts = {
        "ID": {"reset": ID_VALUE},
        # log2 of the sizes, at least 1 (cores/sbs/spikegen/spikegen.py _clog2)
        "CONFIG": {"reset": max(1, (n_max - 1).bit_length())
                   | (max(1, (src_max - 1).bit_length()) << 8)},
        "CTRL": {"command": True, "volatile": True, "reset": 0},
        "STATUS": {"volatile": True},
        "ERROR": {"command": True, "volatile": True, "reset": 0},
        "N_H": {"reset": n_max, "legal": _upto(n_max)},
        "N_SRC": {"reset": 1, "legal": _upto(src_max)},
        "SEED": {"reset": 0},
        "LAYER": {"reset": 0, "legal": (0, 1, 5, 1000, 2047)},
        "SPIKES": {"reset": 0},
    }
    return _from_table("sbs_spikegen", 16, REGISTERS, facts)


def engine_map(lanes, ibuf, wbuf, cmax, hf6):
    """The CNN layer engine: 256 words (10-bit byte addresses); channel tables of ``cmax``
    entries (BIAS only in the HF6 build)."""
    from cores.cnn.engine.engine import BIAS_BASE, MULT_BASE, SHIFT_BASE  # noqa: PLC0415

    caps = lanes | ((ibuf.bit_length() - 1) << 8) | ((wbuf.bit_length() - 1) << 16) \
        | (cmax << 24) | (int(hf6) << 31)
    shape = {"reset": 0, "mask": 0xFFFFFF}
    rmap = RegisterMap("cnn_engine_hf6" if hf6 else "cnn_engine", 256)
    rmap.add(0, Reg("CTRL", "W", reset=0, command=True))
    rmap.add(1, Reg("STATUS", "R", reset=0, volatile=True))
    rmap.add(2, Reg("CAPS", "R", reset=caps))
    rmap.add(3, Reg("IN_SHAPE", **shape))
    rmap.add(4, Reg("OUT_SHAPE", **shape))
    rmap.add(5, Reg("FILTER", **shape))
    if hf6:  # ACT: bits 1:0, the reserved value 3 refused
        rmap.add(6, Reg("QUANT", reset=0, mask=0x3, legal=(0, 1, 2, 0xFFFFFFF1, 0x7FFFFFF2)))
    else:
        rmap.add(6, Reg("QUANT", reset=0))
    rmap.add(7, Reg("CYCLES", "R", reset=0, volatile=True))
    rmap.add(8, Reg("MODE", reset=0, mask=0xFF03))
    for c in range(cmax):  # RAM: no reset value
        rmap.add(BIAS_BASE + c, Reg(f"BIAS[{c}]", mask=0x3F if hf6 else FULL))
        if not hf6:
            rmap.add(MULT_BASE + c, Reg(f"MULT[{c}]"))
            rmap.add(SHIFT_BASE + c, Reg(f"SHIFT[{c}]", mask=0x3F))
    return rmap
