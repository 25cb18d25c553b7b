"""Random numbers and spike selection of the SbS golden model, specified bit for bit.

Two generators give 32-bit uniform words ``u``; both are selectable everywhere.

``xorshift`` (the hardware generator, one per spike source)
    Every spike source (an input pixel, or one IP of a layer, i.e. one grid position) owns a
    32-bit xorshift register (Marsaglia's triple 13, 17, 5; period 2**32 - 1). One step::

        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        u = x                    # the output is the new state

    Seeding, for pattern seed ``seed`` (32 bit), source layer index ``l`` (0 = input image,
    ``l`` = output of topology layer ``l``) and row-major grid position ``j`` of that layer::

        x0 = fmix32((seed + 0x9E3779B9 * (1 + (l << 20) + j)) mod 2**32)
        if x0 == 0: x0 = 0x6D2B79F5

    with ``fmix32`` the MurmurHash3 finaliser (``x ^= x >> 16; x *= 0x85EBCA6B; x ^= x >> 13;
    x *= 0xC2B2AE35; x ^= x >> 16``, all mod 2**32). Seeding is done once per pattern and can be
    done by the processor. The source of layer ``l`` steps exactly once per spike it emits.

``mt19937``
    numpy's ``MT19937(seed)`` bit generator, one per pattern, its 32-bit outputs
    (``random_raw``) consumed in the model's call order: for each spike step of a source layer,
    one word per position in row-major order (see ``model`` for the order of layers and steps).

Spike selection (the running sum of the hardware), for the h of one source (a vector of N
non-negative numbers in the representation of the model; not necessarily normalised):

* fixed point (integers ``H``): ``S = sum(H)``; if ``S == 0`` there is no spike (index -1);
  otherwise ``t = (u * S) >> 32`` and the spike is the first ``i`` whose running sum
  ``H[0] + ... + H[i]`` is greater than ``t`` (always exists because ``t < S``).
  Approximate generators (``select_fixed(..., u_bits=k, h_shift=d)``, the resilience analysis
  of ``refmodels.sbs.resilience``): only the top ``k`` bits of ``u`` are used (``u`` is
  replaced by ``u & ~(2**(32-k) - 1)``, a ``k x 31``-bit multiply) and the running sum is taken
  over ``H[i] >> d`` (an adder ``d`` bits narrower), everything else as above. ``k = 32``,
  ``d = 0`` is the exact generator.
* float32 (``h``): running sums ``c[i]`` in float32, added sequentially from ``i = 0``;
  ``S = c[N-1]``; if ``S == 0`` no spike; otherwise ``t = float32(u >> 8) * 2**-24 * S``
  (float32 multiplications, round to nearest even) and the spike is
  ``min(N - 1, number of i with c[i] <= t)``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "RNG_KINDS",
    "fmix32",
    "xorshift32",
    "xorshift_seed",
    "SpikeRNG",
    "select_fixed",
    "select_float",
    "u_mask",
]

RNG_KINDS = ("xorshift", "mt19937")
_M32 = np.uint64(0xFFFFFFFF)


def fmix32(x) -> np.ndarray:
    """MurmurHash3 32-bit finaliser (vectorised, uint32 in and out)."""
    x = np.asarray(x, dtype=np.uint64) & _M32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & _M32
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & _M32
    x ^= x >> np.uint64(16)
    return x.astype(np.uint32)


def xorshift32(x: np.ndarray) -> np.ndarray:
    """One xorshift32 (13, 17, 5) step of every register in ``x`` (uint32); returns new states."""
    x = np.asarray(x, dtype=np.uint32)
    x = x ^ (x << np.uint32(13))
    x = x ^ (x >> np.uint32(17))
    x = x ^ (x << np.uint32(5))
    return x


def xorshift_seed(seed: int, layer: int, n_positions: int) -> np.ndarray:
    """Initial xorshift states of the ``n_positions`` sources of source layer ``layer``."""
    if not 0 <= layer < 1 << 11:
        raise ValueError("source layer index out of range")
    if not 0 < n_positions <= 1 << 20:
        raise ValueError("a layer has 1 .. 2**20 positions")
    j = np.arange(n_positions, dtype=np.uint64)
    v = (np.uint64(int(seed) & 0xFFFFFFFF) + np.uint64(0x9E3779B9) * (
        np.uint64(1 + (layer << 20)) + j)) & _M32
    x0 = fmix32(v)
    return np.where(x0 == 0, np.uint32(0x6D2B79F5), x0).astype(np.uint32)


class SpikeRNG:
    """Uniform 32-bit words for a batch of patterns (one seed per pattern).

    ``words(layer, n_positions)`` returns a uint32 array ``(batch, n_positions)``: the next word
    of every source of source layer ``layer`` for every pattern.
    """

    def __init__(self, kind: str, seeds) -> None:
        if kind not in RNG_KINDS:
            raise ValueError(f"unknown rng {kind!r}; valid: {', '.join(RNG_KINDS)}")
        seeds = np.atleast_1d(np.asarray(seeds, dtype=np.int64))
        if seeds.ndim != 1 or np.any(seeds < 0) or np.any(seeds >= 1 << 32):
            raise ValueError("seeds must be a 1-D sequence of integers in 0..2**32-1")
        self.kind = kind
        self.seeds = seeds
        self._states: dict[int, np.ndarray] = {}
        if kind == "mt19937":
            self._mt = [np.random.MT19937(int(s)) for s in seeds]

    @property
    def batch(self) -> int:
        return len(self.seeds)

    def words(self, layer: int, n_positions: int) -> np.ndarray:
        if self.kind == "mt19937":
            out = np.empty((self.batch, n_positions), dtype=np.uint32)
            for b, g in enumerate(self._mt):
                out[b] = g.random_raw(n_positions).astype(np.uint32)
            return out
        st = self._states.get(layer)
        if st is None:
            st = np.stack([xorshift_seed(int(s), layer, n_positions) for s in self.seeds])
        elif st.shape[1] != n_positions:
            raise ValueError("a source layer must keep its number of positions")
        st = xorshift32(st)
        self._states[layer] = st
        return st


    def xorshift_state(self, layer: int, n_positions: int) -> np.ndarray:
        """A copy of the xorshift registers of source layer ``layer`` (seeded if unused)."""
        if self.kind != "xorshift":
            raise ValueError("only the xorshift generator has per-source registers")
        st = self._states.get(layer)
        if st is None:
            st = np.stack([xorshift_seed(int(s), layer, n_positions) for s in self.seeds])
        elif st.shape[1] != n_positions:
            raise ValueError("a source layer must keep its number of positions")
        return np.array(st, dtype=np.uint32, order="C")

    def set_xorshift_state(self, layer: int, state: np.ndarray) -> None:
        """Store registers advanced elsewhere (the compiled engine steps them itself)."""
        self._states[layer] = np.asarray(state, dtype=np.uint32)


def u_mask(u_bits: int) -> int:
    """The mask that keeps the top ``u_bits`` of a 32-bit word."""
    if not 1 <= u_bits <= 32:
        raise ValueError(f"u_bits must be 1..32, got {u_bits}")
    return 0xFFFFFFFF ^ ((1 << (32 - u_bits)) - 1)


def select_fixed(h: np.ndarray, u: np.ndarray, u_bits: int = 32, h_shift: int = 0) -> np.ndarray:
    """Spike indices from integer latents ``h[..., N]`` and words ``u[...]`` (-1: no spike);
    ``u_bits`` / ``h_shift``: the approximate generator (module docstring)."""
    h = np.asarray(h, dtype=np.int64)
    if h_shift:
        h = h >> h_shift
    if u_bits != 32:
        u = np.asarray(u, dtype=np.int64) & u_mask(u_bits)
    c = np.cumsum(h, axis=-1)
    s = c[..., -1]
    # (u * S) >> 32 without overflow: S < 2**31 is guaranteed by the model (checked)
    if np.any(s >= 1 << 31):
        raise ValueError("running sum too large for the 32x31-bit selection multiply")
    t = (np.asarray(u, dtype=np.int64) * s) >> 32
    idx = np.sum(c <= t[..., None], axis=-1)
    return np.where(s == 0, -1, idx).astype(np.int64)


_F24 = np.float32(2.0**-24)


def select_float(h: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Spike indices from float32 latents ``h[..., N]`` and words ``u[...]`` (-1: no spike)."""
    h = np.asarray(h, dtype=np.float32)
    c = np.cumsum(h, axis=-1, dtype=np.float32)
    s = c[..., -1]
    uf = (np.asarray(u, dtype=np.uint32) >> np.uint32(8)).astype(np.float32) * _F24
    t = uf * s
    idx = np.minimum(np.sum(c <= t[..., None], axis=-1), h.shape[-1] - 1)
    return np.where(s == 0, -1, idx).astype(np.int64)
