"""Spike-by-Spike (SbS) network golden model: topology, inference, network files.

Network description
===================
A topology is a JSON-storable list of dicts. The first entry describes the input::

    {"type": "input", "shape": [28, 28], "encoding": "linear" | "relu"}

followed by layers (``eps`` is the update rate of the layer)::

    {"type": "conv", "n_h": 32, "kernel": [5, 5], "eps": 0.004}   # stride 1, no padding
    {"type": "pool", "kernel": [2, 2], "eps": 0.025}              # stride = kernel, fixed W
    {"type": "fc", "n_h": 1024, "eps": 0.00625}                   # kernel = whole input map
    {"type": "output", "n_h": 10, "eps": 0.1}                     # fc, must be the last layer

Every layer is a grid ``X x Y`` of inference populations (IPs) of ``N_H`` latents. The weights
of a layer are an array ``W[kx, ky, c, i]`` (``K_X x K_Y x C_in x N_H``, float32), non-negative,
``sum over (kx, ky, c) of W[..., i] = 1`` for every latent ``i``, shared by all IPs of the layer.
Pool layers have no stored weights: ``W[kx, ky, c, i] = 1 / (K_X K_Y)`` if ``c == i`` else 0.

Input encoding (pixel values in [0, 1]): every pixel is a spike source with two channels
(0 = ON, 1 = OFF): ``linear``: ON = x, OFF = 1 - x; ``relu``: ON = max(x - 1/2, 0),
OFF = max(1/2 - x, 0) (a pixel at exactly 1/2 emits no spike). Input noise of level ``a``
(``add_noise``) mixes every pixel with an independent uniform number:
``x' = (1 - a) x + a u``.

Dynamics
========
Every spike source (pixel, or IP of the previous layer) emits one spike per step, its channel
drawn from its h with the rule of ``refmodels.sbs.rng``. An IP at grid position (x, y) of a
layer with kernel K and stride s receives, per step, the spikes of the sources at
``(x s + kx, y s + ky)`` and applies one update per spike, in the order kx outer, ky inner. An
update with spike channel c uses the weight row ``w(i) = W[kx, ky, c, i]``; a missing spike
(index -1) is no update. Layers run in one of two schedules:

* ``"layer"`` (default; the order of the published FPGA and CPU code): layer 1 runs all T steps
  with spikes drawn from the input; then layer 2 runs T steps with spikes drawn from the final h
  of layer 1, and so on. MT19937 words are consumed in this order.
* ``"step"``: at every step, layers update in order, each drawing its spikes from the current h
  of the layer below (already updated in this step).

Readout: the index of the largest output latent after T steps (first one on ties).

The update, float32 reference (``h="float32"``)
-----------------------------------------------
All in float32, with ``theta`` cast to float32 (default theta 1e-20) and the rate
``b = eps / (1 + eps)`` evaluated in float64 and rounded once to float32::

    p = h * w                              # element-wise
    r = lane sum of p                      # see below
    if r > theta:
        q = b / r
        h = h + (q * p - b * h)            # element-wise, in this order

which is ``(h + eps p / r) / (1 + eps)`` written as a step of size b toward ``p / r``.
The sum of the update, ``(1 - b) sum(h) + b sum(p) / r``, contracts sum(h) toward 1 whatever
the rounding of b, so sum(h) has no bias (dividing by a float32-rounded ``1 + eps`` instead
settles sum(h) at ``eps / (float32(1 + eps) - 1)``, 1.0000129 for eps = 0.004).
Lane sum: p is padded with zeros to a multiple of 16 elements; lane l (0..15) accumulates
``p[l], p[l + 16], p[l + 32], ...`` in that order; then the lanes are folded by halves
(``lane[l] += lane[l + 8]`` for l < 8, then + 4, + 2, + 1) and r is lane 0. This is the
order of a 16-wide SIMD sum, so the compiled engine (``refmodels.sbs.fast``) computes the same
bits as the numpy model.

The update, fixed point (``h=HFixed(...)``; the RTL datapath, weights coded E<e>M<m> or log)
---------------------------------------------------------------------------------------------
Constants (F = frac_bits = 24, S = norm_bits = 17, PB = p_bits = 17 by default):
``C1 = floor(2**S / (1 + eps) + 1/2)``, ``CE = 2**S - C1`` (so ``C1 + CE = 2**S``: the
normalisation is exact up to the final rounding). Latents ``H`` are unsigned integers
(value ``H 2**-F``), initialised to ``floor(2**F / N_H)``. Weights are the integers
``WI`` of ``refmodels.sbs.formats`` (value ``WI 2**-(M + EMAX)``). One update::

    P(i) = H(i) * WI(i)                     # exact; < 2**40 for F=24, E4M1 / log4
    r    = sum_i P(i)                       # exact; < 2**48 (model checks)
    if r > theta_q:                         # theta_q = 0 by default
        n   = bit length of r               # leading-one position + 1
        sh  = n - PB                        # one normalising shift for r and all P(i)
        r'  = (r + 2**(sh-1)) >> sh         # round half up (when sh > 0; when sh <= 0
        P'(i) = (P(i) + 2**(sh-1)) >> sh    #   both are shifted left by -sh, exactly)
        Rq  = floor(((CE << F) + (r' >> 1)) / r')   # one rounded division per update,
                                            #   r' in [2**(PB-1), 2**PB]
        H(i) = min(2**F - 1, (H(i) * C1 + P'(i) * Rq + 2**(S-1)) >> S)

``H * C1`` is 24 x 17 bits and ``P' * Rq`` is 18 x 25 bits: each fits one DSP48E1 (25 x 18).
Rounding P', r' and Rq to nearest (not truncating) keeps ``sum(H)`` unbiased: truncation
loses about N/2 LSB of P' per update, a systematic 1e-4 relative shrink of sum(h).
The division by ``1 + eps`` is the multiply by ``C1``; ``eps p / r`` is ``P' * Rq`` (the
reciprocal of r folded with ``eps / (1 + eps)``); one rounding (half up) per latent per update.
Why F = 24: h must resolve the smallest increment ``eps p / r`` (eps = 0.1/25 and N_H up to
1024 give ~4e-6 = 65 LSB) and stays in 24 bits (a DSP operand, 25 % less memory than float32).
Round-half-up makes a latent stop decaying below ``1 / (2 eps)`` LSB (125 LSB = 7.5e-6 for
eps = 0.004), so no latent dies at 0 the way a truncating datapath would kill it.
The input channels are ``floor(x 2**F + 1/2)`` and spikes are selected by ``rng.select_fixed``.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

from . import fast as _fast
from .formats import FormatError, HFixed, WeightFormat, parse_format
from .rng import SpikeRNG, select_fixed, select_float

__all__ = [
    "TopologyError",
    "NetworkFileError",
    "Layer",
    "Network",
    "build_layers",
    "pool_weights",
    "encode_input",
    "add_noise",
    "run",
    "prepare",
    "classify",
    "save_network",
    "load_network",
    "update_float",
    "update_fixed",
    "update_fixed_loop",
    "rate",
    "lane_sum",
    "mnist_published_topology",
]

FILE_FORMAT = "approxnn-sbs-network"
FILE_VERSION = 1
ENCODINGS = ("linear", "relu")
SCHEDULES = ("layer", "step")
DEFAULT_THETA = 1e-20


class TopologyError(ValueError):
    """A malformed network description."""


class NetworkFileError(ValueError):
    """A malformed or inconsistent network file."""


@dataclass(frozen=True)
class Layer:
    """A resolved layer: shapes and parameters derived from the topology."""

    index: int
    type: str
    n_h: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    eps: float
    in_shape: tuple[int, int, int]  # X, Y, C of the source layer
    out_shape: tuple[int, int, int]  # X, Y, N_H

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (*self.kernel, self.in_shape[2], self.n_h)

    @property
    def has_weights(self) -> bool:
        return self.type != "pool"

    @property
    def n_ip(self) -> int:
        return self.out_shape[0] * self.out_shape[1]

    def ops_per_step(self) -> int:
        """Operations per spike step and pattern: ``X Y K_X K_Y (3 N_H + 2)``."""
        return self.n_ip * self.kernel[0] * self.kernel[1] * (3 * self.n_h + 2)


def _pos_int(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise TopologyError(f"{what} must be a positive integer, got {v!r}")
    return v


def _pair(v, what: str) -> tuple[int, int]:
    if not isinstance(v, list | tuple) or len(v) != 2:
        raise TopologyError(f"{what} must be a list of two positive integers, got {v!r}")
    return (_pos_int(v[0], what), _pos_int(v[1], what))


def _eps(v, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not (0 < v < 1):
        raise TopologyError(f"{where}: eps must be a number in (0, 1), got {v!r}")
    return float(v)


def build_layers(topology) -> list[Layer]:
    """Validate a topology (list of dicts) and resolve its shapes."""
    if not isinstance(topology, list) or len(topology) < 2:
        raise TopologyError("a topology is a list: an input entry and at least one layer")
    inp = topology[0]
    if not isinstance(inp, dict) or inp.get("type") != "input":
        raise TopologyError('the first topology entry must be {"type": "input", ...}')
    extra = set(inp) - {"type", "shape", "encoding"}
    if extra:
        raise TopologyError(f"input: unknown keys {sorted(extra)}")
    ix, iy = _pair(inp.get("shape"), "input shape")
    if inp.get("encoding", "linear") not in ENCODINGS:
        raise TopologyError(f"input encoding must be one of {ENCODINGS}")
    shape = (ix, iy, 2)
    layers: list[Layer] = []
    allowed = {
        "conv": {"type", "n_h", "kernel", "eps"},
        "pool": {"type", "kernel", "eps"},
        "fc": {"type", "n_h", "eps"},
        "output": {"type", "n_h", "eps"},
    }
    for li, d in enumerate(topology[1:]):
        where = f"layer {li}"
        if not isinstance(d, dict):
            raise TopologyError(f"{where}: must be a dict")
        t = d.get("type")
        if t not in allowed:
            raise TopologyError(f"{where}: type must be one of {sorted(allowed)}, got {t!r}")
        extra = set(d) - allowed[t]
        if extra:
            raise TopologyError(f"{where} ({t}): unknown keys {sorted(extra)}")
        eps = _eps(d.get("eps"), where)
        if t == "conv":
            n_h = _pos_int(d.get("n_h"), f"{where} n_h")
            k = _pair(d.get("kernel"), f"{where} kernel")
            st = (1, 1)
        elif t == "pool":
            n_h = shape[2]
            k = _pair(d.get("kernel"), f"{where} kernel")
            st = k
        else:
            n_h = _pos_int(d.get("n_h"), f"{where} n_h")
            k = (shape[0], shape[1])
            st = (1, 1)
        if n_h < 2:
            raise TopologyError(f"{where}: an IP needs at least 2 latents")
        if t == "output" and li != len(topology) - 2:
            raise TopologyError(f"{where}: the output layer must be the last layer")
        if k[0] > shape[0] or k[1] > shape[1]:
            raise TopologyError(f"{where}: kernel {k} larger than its input {shape[:2]}")
        if t == "pool" and (shape[0] % k[0] or shape[1] % k[1]):
            raise TopologyError(f"{where}: pool kernel {k} does not divide {shape[:2]}")
        ox = (shape[0] - k[0]) // st[0] + 1
        oy = (shape[1] - k[1]) // st[1] + 1
        lay = Layer(li, t, n_h, k, st, eps, shape, (ox, oy, n_h))
        layers.append(lay)
        shape = lay.out_shape
    if layers[-1].type != "output":
        raise TopologyError("the last layer must be of type output")
    if layers[-1].out_shape[:2] != (1, 1):
        raise TopologyError("the output layer must be a single IP")
    return layers


def pool_weights(layer: Layer) -> np.ndarray:
    kx, ky = layer.kernel
    c = layer.in_shape[2]
    w = np.zeros((kx, ky, c, c), dtype=np.float32)
    w[:, :, np.arange(c), np.arange(c)] = np.float32(1.0 / (kx * ky))
    return w


def mnist_published_topology() -> list[dict]:
    """The published MNIST network (Nevarez et al. 2021, Table 1)."""
    return [
        {"type": "input", "shape": [28, 28], "encoding": "linear"},
        {"type": "conv", "n_h": 32, "kernel": [5, 5], "eps": 0.1 / 25},
        {"type": "pool", "kernel": [2, 2], "eps": 0.1 / 4},
        {"type": "conv", "n_h": 64, "kernel": [5, 5], "eps": 0.1 / 25},
        {"type": "pool", "kernel": [2, 2], "eps": 0.1 / 4},
        {"type": "fc", "n_h": 1024, "eps": 0.1 / 16},
        {"type": "output", "n_h": 10, "eps": 0.1},
    ]


class Network:
    """A topology plus the float32 weights of its conv / fc / output layers."""

    def __init__(self, topology, weights, meta: dict | None = None) -> None:
        self.topology = json.loads(json.dumps(topology))  # deep copy, JSON-clean
        self.layers = build_layers(self.topology)
        self.meta = dict(meta or {})
        ws = list(weights)
        if len(ws) != len(self.layers):
            raise TopologyError(
                f"{len(self.layers)} layers but {len(ws)} weight entries (None for pool)"
            )
        self.weights: list[np.ndarray] = []
        for lay, w in zip(self.layers, ws, strict=True):
            if not lay.has_weights:
                if w is not None:
                    raise TopologyError(f"layer {lay.index} (pool) takes no weights")
                self.weights.append(pool_weights(lay))
                continue
            w = check_weights(w, lay)
            self.weights.append(w)

    @property
    def input_shape(self) -> tuple[int, int]:
        return tuple(self.topology[0]["shape"])

    @property
    def encoding(self) -> str:
        return self.topology[0].get("encoding", "linear")

    @property
    def n_classes(self) -> int:
        return self.layers[-1].n_h


def check_weights(w, lay: Layer, tol: float = 1e-3) -> np.ndarray:
    w = np.asarray(w)
    if w.shape != lay.weight_shape:
        raise TopologyError(
            f"layer {lay.index}: weights of shape {w.shape}, expected {lay.weight_shape}"
        )
    if w.dtype.kind != "f":
        raise TopologyError(f"layer {lay.index}: weights must be floating point")
    w = w.astype(np.float32)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise TopologyError(f"layer {lay.index}: weights must be finite and non-negative")
    s = w.sum(axis=(0, 1, 2), dtype=np.float64)
    if np.any(np.abs(s - 1.0) > tol):
        raise TopologyError(f"layer {lay.index}: weights of every latent must sum to 1")
    return w


# ----------------------------------------------------------------------------------------------
# input
# ----------------------------------------------------------------------------------------------
def add_noise(images, level: float, seed: int = 0) -> np.ndarray:
    """``(1 - level) x + level u`` with u uniform in [0, 1) (numpy PCG64 seeded by ``seed``)."""
    if not 0 <= level <= 1:
        raise ValueError("noise level must lie in [0, 1]")
    x = np.asarray(images, dtype=np.float64)
    u = np.random.default_rng(seed).random(x.shape)
    return (1.0 - level) * x + level * u


def encode_input(images, shape: tuple[int, int], encoding: str = "linear") -> np.ndarray:
    """Pixels in [0, 1] (batch, H*W) or (batch, H, W) -> ON/OFF source values (batch, H, W, 2)."""
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 1 or (x.ndim == 2 and x.shape == tuple(shape)):
        x = x[None]
    x = x.reshape(x.shape[0], -1)
    if x.shape[1] != shape[0] * shape[1]:
        raise ValueError(f"images have {x.shape[1]} pixels, the network expects {shape}")
    if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise ValueError("pixel values must lie in [0, 1]")
    x = x.reshape(-1, shape[0], shape[1])
    if encoding == "linear":
        on, off = x, 1.0 - x
    elif encoding == "relu":
        on, off = np.maximum(x - 0.5, 0.0), np.maximum(0.5 - x, 0.0)
    else:
        raise ValueError(f"unknown encoding {encoding!r}; valid: {ENCODINGS}")
    return np.stack([on, off], axis=-1)


# ----------------------------------------------------------------------------------------------
# the update
# ----------------------------------------------------------------------------------------------
def rate(eps: float) -> np.float32:
    """The float32 step size ``b = eps / (1 + eps)`` of the float32 update."""
    return np.float32(float(eps) / (1.0 + float(eps)))


def lane_sum(p: np.ndarray) -> np.ndarray:
    """float32 sum over the last axis in the 16-lane order of the module docstring."""
    n = p.shape[-1]
    nl = -(-n // 16) * 16
    if nl != n:
        p = np.concatenate([p, np.zeros((*p.shape[:-1], nl - n), np.float32)], axis=-1)
    acc = p[..., :16]
    for j in range(16, nl, 16):
        acc = acc + p[..., j : j + 16]
    for half in (8, 4, 2, 1):
        acc = acc[..., :half] + acc[..., half : 2 * half]
    return acc[..., 0]


def update_float(h: np.ndarray, w: np.ndarray, eps: float, theta: float = DEFAULT_THETA):
    """One SbS update of float32 latents ``h[..., N]`` with weight rows ``w[..., N]``."""
    b = rate(eps)
    p = h * w
    r = lane_sum(p)
    upd = r > np.float32(theta)
    q = b / np.where(upd, r, np.float32(1.0))
    hn = h + (q[..., None] * p - b * h)
    return np.where(upd[..., None], hn, h)


def _shift_round(v: np.ndarray, sh: np.ndarray) -> np.ndarray:
    """``(v + 2**(sh-1)) >> sh`` where sh > 0, ``v << -sh`` where sh <= 0 (int64)."""
    pos = np.maximum(sh, 0)
    half = np.where(sh > 0, np.int64(1) << np.maximum(sh - 1, 0), 0)
    return np.where(sh > 0, (v + half) >> pos, v << np.maximum(-sh, 0))


def update_fixed(H: np.ndarray, wi: np.ndarray, c1: int, ce: int, hf: HFixed) -> np.ndarray:
    """One fixed-point SbS update (see module docstring) of integer latents ``H[..., N]``."""
    P = H * wi
    r = P.sum(axis=-1)
    if np.any(r >= 1 << 48):
        raise OverflowError("accumulator beyond 48 bits")
    upd = r > hf.theta_q
    n = np.frexp(r.astype(np.float64))[1].astype(np.int64)  # bit length (exact below 2**53)
    sh = n - hf.p_bits
    rs = _shift_round(r, sh)
    ps = _shift_round(P, sh[..., None])
    rs = np.where(upd, rs, 1)
    rq = ((ce << hf.frac_bits) + (rs >> 1)) // rs
    acc = H * c1 + ps * rq[..., None]
    hn = np.minimum((acc + (1 << (hf.norm_bits - 1))) >> hf.norm_bits, (1 << hf.frac_bits) - 1)
    return np.where(upd[..., None], hn, H)


def update_fixed_loop(H: list[int], wi: list[int], c1: int, ce: int, hf: HFixed) -> list[int]:
    """``update_fixed`` of one IP, written with Python integers (the per-IP reference)."""
    P = [a * b for a, b in zip(H, wi, strict=True)]
    r = sum(P)
    if r <= hf.theta_q:
        return list(H)
    sh = r.bit_length() - hf.p_bits
    if sh > 0:
        half = 1 << (sh - 1)
        rs, ps = (r + half) >> sh, [(v + half) >> sh for v in P]
    else:
        rs, ps = r << -sh, [v << -sh for v in P]
    rq = ((ce << hf.frac_bits) + (rs >> 1)) // rs
    top = (1 << hf.frac_bits) - 1
    half = 1 << (hf.norm_bits - 1)
    return [min(top, (a * c1 + b * rq + half) >> hf.norm_bits) for a, b in zip(H, ps, strict=True)]


def _update_float_loop(h: np.ndarray, w: np.ndarray, eps: float, theta: float) -> np.ndarray:
    b = rate(eps)
    p = [np.float32(a * c) for a, c in zip(h, w, strict=True)]
    n = len(p)
    p += [np.float32(0.0)] * (-(-n // 16) * 16 - n)
    lanes = list(p[:16])
    for j in range(16, len(p), 16):
        lanes = [np.float32(lanes[k] + p[j + k]) for k in range(16)]
    for half in (8, 4, 2, 1):
        lanes = [np.float32(lanes[k] + lanes[k + half]) for k in range(half)]
    r = lanes[0]
    if not r > np.float32(theta):
        return h
    q = np.float32(b / r)
    return np.array([np.float32(a + np.float32(np.float32(q * c) - np.float32(b * a)))
                     for a, c in zip(h, p[:n], strict=True)], dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# running a network
# ----------------------------------------------------------------------------------------------
class _Runner:
    """Holds the per-layer state and weight tables for one run."""

    def __init__(self, net: Network, wfmts, hrep, theta: float, impl: str, spike_approx=None):
        self.net = net
        self.fixed = isinstance(hrep, HFixed)
        self.hf = hrep
        self.theta = theta
        self.impl = impl
        self.tables = []
        self.consts = []
        self.fast_tables = []  # impl "fast": no "no spike" row; float32 padded to LANES
        self.bcoef = [rate(lay.eps) for lay in net.layers]
        self.wfmts = list(wfmts)
        #: per layer, the spike generator of its source: (u_bits, h_shift); (32, 0) is exact
        self.spike_approx = [(32, 0)] * len(net.layers) if spike_approx is None \
            else [tuple(a) for a in spike_approx]
        for lay, w, wfmt in zip(net.layers, net.weights, self.wfmts, strict=True):
            kx, ky, c, n = w.shape
            if self.fixed:
                if wfmt.is_float:
                    raise FormatError("the fixed-point h model needs coded weights (e4m1, log4)")
                t = np.zeros((kx, ky, c + 1, n), dtype=np.int64)
                t[:, :, :c] = wfmt.to_int(wfmt.quantise(w))
                self.consts.append(hrep.eps_constants(lay.eps))
            else:
                t = np.zeros((kx, ky, c + 1, n), dtype=np.float32)
                t[:, :, :c] = wfmt.round_trip(w) if not wfmt.is_float else w
                self.consts.append(None)
            self.tables.append(t)  # row c (index -1) is the all-zero row of "no spike"
            if impl == "fast":
                ft = t[:, :, :c]
                if not self.fixed:
                    ft = np.pad(ft, ((0, 0), (0, 0), (0, 0), (0, _fast.padded(n) - n)))
                self.fast_tables.append(np.ascontiguousarray(ft))

    def init_state(self, lay: Layer, batch: int) -> np.ndarray:
        shape = (batch, *lay.out_shape)
        if self.fixed:
            return np.full(shape, self.hf.init_h(lay.n_h), dtype=np.int64)
        return np.full(shape, np.float32(1.0 / lay.n_h), dtype=np.float32)

    def select(self, src: np.ndarray, u: np.ndarray, li: int = 0) -> np.ndarray:
        if self.fixed:
            return select_fixed(src, u, *self.spike_approx[li])
        return select_float(src, u)

    def step(self, li: int, h: np.ndarray, spikes: np.ndarray) -> np.ndarray:
        lay = self.net.layers[li]
        tab = self.tables[li]
        (kx_n, ky_n), (sx, sy) = lay.kernel, lay.stride
        ox, oy = lay.out_shape[:2]
        if self.impl == "loop":
            return self._step_loop(li, h, spikes)
        for kx in range(kx_n):
            for ky in range(ky_n):
                s = spikes[:, kx : kx + sx * (ox - 1) + 1 : sx, ky : ky + sy * (oy - 1) + 1 : sy]
                w = tab[kx, ky][s]
                if self.fixed:
                    c1, ce = self.consts[li]
                    h = update_fixed(h, w, c1, ce, self.hf)
                else:
                    h = update_float(h, w, lay.eps, self.theta)
        return h

    def _step_loop(self, li: int, h: np.ndarray, spikes: np.ndarray) -> np.ndarray:
        lay = self.net.layers[li]
        tab = self.tables[li]
        (kx_n, ky_n), (sx, sy) = lay.kernel, lay.stride
        ox, oy = lay.out_shape[:2]
        h = h.copy()
        for b in range(h.shape[0]):
            for x in range(ox):
                for y in range(oy):
                    v = h[b, x, y]
                    if self.fixed:
                        v = [int(a) for a in v]
                    for kx in range(kx_n):
                        for ky in range(ky_n):
                            c = int(spikes[b, x * sx + kx, y * sy + ky])
                            if c < 0:
                                continue
                            if self.fixed:
                                c1, ce = self.consts[li]
                                wrow = [int(a) for a in tab[kx, ky, c]]
                                v = update_fixed_loop(v, wrow, c1, ce, self.hf)
                            else:
                                v = _update_float_loop(v, tab[kx, ky, c], lay.eps, self.theta)
                    h[b, x, y] = v
        return h

    def h_value(self, h: np.ndarray) -> np.ndarray:
        if self.fixed:
            return h.astype(np.float64) / (1 << self.hf.frac_bits)
        return h.astype(np.float64)


def run(
    net: Network,
    images,
    T: int,
    *,
    seeds=0,
    weights: str | WeightFormat = "float32",
    h: str | HFixed = "float32",
    rng: str = "xorshift",
    schedule: str = "layer",
    theta: float = DEFAULT_THETA,
    impl: str = "auto",
    threads: int | None = None,
    return_all: bool = False,
    spike_approx=None,
):
    """Run SbS inference; returns the output h (batch, n_classes) as float64 values.

    ``seeds``: one integer (pattern b uses ``seeds + b``) or one per pattern. ``weights``: a
    weight format (``float32``, ``e4m1``, ``log4``, ...); weights are quantised from the
    float32 network weights; a list gives one format per layer (pool layers included).
    ``h``: ``"float32"`` or an ``HFixed``. ``spike_approx``: per layer, ``(u_bits, h_shift)``
    of the approximate spike generator that draws the layer's input spikes (fixed-point h
    only; ``refmodels.sbs.rng``); None is the exact generator everywhere. ``impl``: ``"fast"``
    (the compiled multi-threaded engine of ``refmodels.sbs.fast``, needs numba), ``"vec"``
    (numpy, vectorised over IPs and patterns), ``"loop"`` (per-IP Python loop) or ``"auto"``
    (``"fast"`` where numba is importable, else ``"vec"``); all give the same bits.
    ``threads``: threads of the fast engine (default: numba's setting).
    ``return_all``: also return the list of final h of every layer (model representation).
    """
    prep = prepare(net, images, T, seeds=seeds, weights=weights, h=h, rng=rng,
                   schedule=schedule, theta=theta, impl=impl, threads=threads,
                   spike_approx=spike_approx)
    batch = prep.src.shape[0]
    states = prep.simulate()
    runner = prep.runner
    out = runner.h_value(states[-1]).reshape(batch, -1)
    return (out, states) if return_all else out


class _Prepared:
    """A run set up (tables, generators, initial states) but not simulated yet."""

    def __init__(self, net, x, T, seeds, wfmt, h, rng, schedule, theta, impl, threads,
                 spike_approx=None):
        self.runner = _Runner(net, wfmt, h, theta, impl, spike_approx)
        self.gen = SpikeRNG(rng, seeds)
        self.src = self.runner.hf.quantise_h(x) if self.runner.fixed else x.astype(np.float32)
        self.states = [self.runner.init_state(lay, x.shape[0]) for lay in net.layers]
        self.T, self.schedule, self.impl, self.threads = T, schedule, impl, threads

    def simulate(self, n_layers: int | None = None) -> list:
        """Run the T steps once; returns the final states of every layer.

        ``n_layers``: simulate only the first n layers (the others keep their initial state).
        """
        runner, gen, src, T = self.runner, self.gen, self.src, self.T
        states = list(self.states)
        layers = runner.net.layers[:n_layers]
        if self.impl == "fast":
            with _fast.threads(self.threads):
                return _run_fast(runner, gen, src, states, T, self.schedule, len(layers))

        def draw(li: int, source: np.ndarray) -> np.ndarray:
            b, px, py = source.shape[:3]
            u = gen.words(li, px * py).reshape(b, px, py)
            return runner.select(source, u, li)

        if self.schedule == "layer":
            for li in range(len(layers)):
                source = src if li == 0 else states[li - 1]
                for _ in range(T):
                    states[li] = runner.step(li, states[li], draw(li, source))
        else:
            for _ in range(T):
                for li in range(len(layers)):
                    source = src if li == 0 else states[li - 1]
                    states[li] = runner.step(li, states[li], draw(li, source))
        return states


def prepare(net: Network, images, T: int, *, seeds=0, weights="float32", h="float32",
            rng: str = "xorshift", schedule: str = "layer", theta: float = DEFAULT_THETA,
            impl: str = "auto", threads: int | None = None, spike_approx=None) -> _Prepared:
    """``run`` up to the simulation: returns an object whose ``simulate()`` runs the T steps
    (once; a second call needs a new ``prepare``). For timing the simulation alone."""
    if not isinstance(T, int) or T < 1:
        raise ValueError("T must be a positive integer")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; valid: {SCHEDULES}")
    if impl not in ("auto", "fast", "vec", "loop"):
        raise ValueError("impl must be 'auto', 'fast', 'vec' or 'loop'")
    if impl == "auto":
        impl = "fast" if _fast.HAVE_NUMBA else "vec"
    if impl == "fast" and not _fast.HAVE_NUMBA:
        raise ValueError("impl 'fast' needs numba (pip install numba)")
    if isinstance(h, str):
        if h not in ("float32", "fixed"):
            raise ValueError("h must be 'float32', 'fixed' or an HFixed")
        h = HFixed() if h == "fixed" else "float32"
    if isinstance(weights, (list, tuple)):
        if len(weights) != len(net.layers):
            raise ValueError(f"give one weight format per layer ({len(net.layers)}), got "
                             f"{len(weights)}")
        wfmt = [parse_format(w) for w in weights]
    else:
        wfmt = [parse_format(weights)] * len(net.layers)
    if spike_approx is not None:
        spike_approx = [tuple(int(v) for v in a) for a in spike_approx]
        if len(spike_approx) != len(net.layers):
            raise ValueError(f"give one (u_bits, h_shift) per layer ({len(net.layers)})")
        if not isinstance(h, HFixed):
            raise ValueError("the approximate spike generator needs the fixed-point h")
        for ub, sh in spike_approx:
            if not (1 <= ub <= 32 and 0 <= sh < h.frac_bits):
                raise ValueError(f"spike generator (u_bits={ub}, h_shift={sh}): u_bits must "
                                 f"be 1..32 and h_shift 0..{h.frac_bits - 1}")
    x = encode_input(images, net.input_shape, net.encoding)
    batch = x.shape[0]
    seeds = np.asarray(seeds, dtype=np.int64)
    seeds = seeds + np.arange(batch) if seeds.ndim == 0 else seeds
    if seeds.shape != (batch,):
        raise ValueError("give one seed, or one seed per pattern")
    return _Prepared(net, x, T, seeds, wfmt, h, rng, schedule, theta, impl, threads,
                     spike_approx)


def _run_fast(runner: _Runner, gen: SpikeRNG, src: np.ndarray, states: list, T: int,
              schedule: str, n_layers: int) -> list:
    """Both schedules on the compiled engine; returns the states in the model layout."""
    layers = runner.net.layers
    if runner.fixed:
        work = [np.ascontiguousarray(s) for s in states]
    else:
        work = [np.ascontiguousarray(np.pad(s, ((0, 0),) * 3 + ((0, _fast.padded(s.shape[3])
                                                                  - s.shape[3]),)))
                for s in states]

    def source(li):
        if li == 0:
            return src
        return np.ascontiguousarray(work[li - 1][..., : layers[li - 1].n_h])

    if schedule == "layer":
        for li in range(n_layers):
            work[li] = _fast.run_layer_block(runner, gen, li, work[li], source(li), T)
    else:
        for _ in range(T):
            for li in range(n_layers):
                work[li] = _fast.run_layer_block(runner, gen, li, work[li], source(li), 1)
    return [np.ascontiguousarray(w[..., : lay.n_h]) for w, lay in zip(work, layers, strict=True)]


def classify(h_out: np.ndarray) -> np.ndarray:
    """Argmax readout (first maximum)."""
    return np.argmax(np.asarray(h_out), axis=-1)


# ----------------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------------
def _stem(path) -> str:
    p = os.fspath(path)
    for ext in (".json", ".npz"):
        if p.endswith(ext):
            return p[: -len(ext)]
    return p


def save_network(net: Network, path) -> tuple[str, str]:
    """Write ``<stem>.json`` (topology, metadata) and ``<stem>.npz`` (weights ``w<layer>``)."""
    stem = _stem(path)
    arrays = {
        f"w{lay.index}": w for lay, w in zip(net.layers, net.weights, strict=True)
        if lay.has_weights
    }
    np.savez(stem + ".npz", **arrays)
    doc = {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "weights_file": os.path.basename(stem) + ".npz",
        "topology": net.topology,
        "meta": net.meta,
    }
    with open(stem + ".json", "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    return stem + ".json", stem + ".npz"


def load_network(path) -> Network:
    """Read a network written by ``save_network`` (``.json`` path or stem)."""
    stem = _stem(path)
    try:
        with open(stem + ".json") as fh:
            doc = json.load(fh)
    except json.JSONDecodeError as exc:
        raise NetworkFileError(f"{stem}.json: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FILE_FORMAT:
        raise NetworkFileError(f"{stem}.json: not an SbS network file")
    if doc.get("version") != FILE_VERSION:
        raise NetworkFileError(f"{stem}.json: unsupported version {doc.get('version')!r}")
    wf = doc.get("weights_file")
    if not isinstance(wf, str) or os.path.basename(wf) != wf:
        raise NetworkFileError(f"{stem}.json: weights_file must be a plain file name")
    npz = os.path.join(os.path.dirname(stem + ".json"), wf)
    try:
        layers = build_layers(doc.get("topology"))
    except TopologyError as exc:
        raise NetworkFileError(f"{stem}.json: {exc}") from exc
    try:
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise NetworkFileError(f"{npz}: cannot read weights (truncated or not an .npz file: "
                               f"{exc})") from exc
    expected = {f"w{lay.index}" for lay in layers if lay.has_weights}
    if set(arrays) != expected:
        raise NetworkFileError(
            f"{npz}: arrays {sorted(arrays)} do not match the topology {sorted(expected)}"
        )
    ws = [arrays[f"w{lay.index}"] if lay.has_weights else None for lay in layers]
    try:
        return Network(doc["topology"], ws, doc.get("meta") or {})
    except TopologyError as exc:
        raise NetworkFileError(f"{npz}: {exc}") from exc
