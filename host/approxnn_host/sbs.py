"""Driver of the SbS layer unit in the ``approxnn_sbs`` overlay, written against the PYNQ API
(the overlay's cells ``layer``, ``dma_h``, ``dma_w``, ``dma_s``; ``allocate``). On a board:
``SbsLayer(pynq.Overlay("approxnn_sbs.bit"), pynq.allocate)``; in simulation the same class
runs on the PYNQ-API shim of verif/zynq/pynq_shim.py.

A layer runs as: :meth:`configure` (latents, IPs, weight rows, update constant, threshold),
:meth:`load_weights` (the weight codes of every row), :meth:`load_h` (the h of every IP),
:meth:`spikes` (one ``(ip, row)`` pair per update, in order) and :meth:`dump` (the h of every
IP, the pending update applied). Stream words are packed as the layer unit takes them (P
fields per beat, lane 0 in the low bits), each beat padded to the power-of-two width of the
Vivado-ready top's stream.
"""

from __future__ import annotations

import numpy as np

from .regs import load_regmap


class SbsError(RuntimeError):
    """The layer unit refused a frame or a spike (its ERROR register), or did not finish."""


def _beat_bytes(bits: int) -> int:
    w = 8
    while w < bits:
        w *= 2
    return w // 8


def pack_beats(values, width: int, p: int) -> np.ndarray:
    """Beats of ``p`` fields of ``width`` bits, each padded to a power-of-two number of bytes,
    as a little-endian byte array."""
    v = np.asarray(values, dtype=object).reshape(-1, p)
    nb = _beat_bytes(width * p)
    out = bytearray()
    for row in v:
        word = 0
        for k, x in enumerate(row):
            word |= int(x) << (k * width)
        out += word.to_bytes(nb, "little")
    return np.frombuffer(bytes(out), np.uint8)


def unpack_beats(data, width: int, p: int) -> np.ndarray:
    nb = _beat_bytes(width * p)
    data = bytes(np.asarray(data, np.uint8))
    mask = (1 << width) - 1
    out = []
    for i in range(0, len(data), nb):
        word = int.from_bytes(data[i:i + nb], "little")
        out += [(word >> (k * width)) & mask for k in range(p)]
    return np.array(out, np.int64)


class SbsLayer:
    def __init__(self, overlay, allocate, layer: str = "layer", dma_h: str = "dma_h",
                 dma_w: str = "dma_w", dma_s: str = "dma_s", regmap=None):
        self.mmio = getattr(overlay, layer).mmio
        self.dma_h, self.dma_w, self.dma_s = (getattr(overlay, n) for n in (dma_h, dma_w, dma_s))
        self.allocate = allocate
        self.regs = regmap or load_regmap("sbs_layer")
        ident = self.read("ID")
        if ident >> 8 != self.regs["ID"].field("TAG").reset:
            raise SbsError(f"no SbS unit at this address (ID 0x{ident:08x})")
        cfg = self.regs["CONFIG"].decode(self.read("CONFIG"))
        self.p, self.f = cfg["P"], cfg["F"]
        self.code_bits = cfg["E"] + cfg["M"]
        self.n_h = self.n_ip = self.n_rows = 0

    def read(self, name: str) -> int:
        return int(self.mmio.read(self.regs.offset(name)))

    def write(self, name: str, value: int) -> None:
        self.mmio.write(self.regs.offset(name), int(value) & 0xFFFFFFFF)

    def _idle(self) -> None:
        for _ in range(100_000):
            if not self.regs["STATUS"].decode(self.read("STATUS"))["BUSY"]:
                break
        else:
            raise SbsError("the layer unit stays busy")
        err = self.read("ERROR")
        if err:
            raise SbsError(f"the layer unit reports ERROR 0x{err:x}: "
                           f"{self.regs['ERROR'].decode(err)}")

    def _send(self, dma, data) -> None:
        buf = self.allocate(shape=(len(data),), dtype=np.uint8)
        buf[:] = data
        dma.sendchannel.transfer(buf)
        dma.sendchannel.wait()
        if hasattr(buf, "freebuffer"):
            buf.freebuffer()

    def configure(self, n_h: int, n_ip: int, n_rows: int, c1: int, theta: int = 0) -> None:
        self.write("N_H", n_h)
        self.write("N_IP", n_ip)
        self.write("N_ROWS", n_rows)
        self.write("C1", c1)
        self.write("THETA_LO", theta & 0xFFFFFFFF)
        self.write("THETA_HI", theta >> 32)
        self.n_h, self.n_ip, self.n_rows = n_h, n_ip, n_rows

    def load_weights(self, codes) -> None:
        """``codes[row][i]``: the weight code of latent i in row ``row`` (N_ROWS x N_H)."""
        codes = np.asarray(codes, np.int64).reshape(self.n_rows, self.n_h)
        self.write("CTRL", self.regs["CTRL"].encode(LOAD_W=1))
        self._send(self.dma_w, pack_beats(codes.ravel(), self.code_bits, self.p))
        self._idle()

    def load_h(self, h) -> None:
        """``h[ip][i]``: the integer latents (F fraction bits) of every IP (N_IP x N_H)."""
        h = np.asarray(h, np.int64).reshape(self.n_ip, self.n_h)
        self.write("CTRL", self.regs["CTRL"].encode(LOAD=1))
        self._send(self.dma_h, pack_beats(h.ravel(), self.f, self.p))
        self._idle()

    def spikes(self, pairs) -> None:
        """One update per ``(ip, row)`` pair, in order."""
        words = np.array([(int(ip) << 16) | int(row) for ip, row in pairs], np.uint32)
        self._send(self.dma_s, words.view(np.uint8))

    def dump(self) -> np.ndarray:
        """The h of every IP (N_IP x N_H) after the spikes so far."""
        nbytes = self.n_ip * self.n_h // self.p * _beat_bytes(self.f * self.p)
        buf = self.allocate(shape=(nbytes,), dtype=np.uint8)
        self.dma_h.recvchannel.transfer(buf)
        self.write("CTRL", self.regs["CTRL"].encode(DUMP=1))
        self.dma_h.recvchannel.wait()
        self._idle()
        h = unpack_beats(np.array(buf), self.f, self.p).reshape(self.n_ip, self.n_h)
        if hasattr(buf, "freebuffer"):
            buf.freebuffer()
        return h
