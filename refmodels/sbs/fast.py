"""Compiled, multi-threaded SbS engine (numba): the same model as ``model.run`` ``impl="vec"``.

``run(..., impl="fast")`` (the default ``impl="auto"`` when numba is importable) runs every
layer with the kernels of this module:

* spike generation, parallel over (pattern, source): the running-sum selection of
  ``refmodels.sbs.rng`` (a binary search in the running sums, which gives the same index as
  counting), with the xorshift registers stepped inside the kernel (MT19937 words come from
  numpy in the specified order);
* the updates, parallel over (pattern, IP): every IP applies its ``K_X K_Y`` updates per step
  with its latents held locally, over a block of steps at a time (schedule ``"layer"``: the
  spikes of a block of steps are drawn first, which does not change them because the source h
  is fixed during the layer's T steps; schedule ``"step"``: one step at a time).

Both datapaths follow ``model.update_float`` / ``model.update_fixed`` operation for operation:
the fixed-point path is integer arithmetic (bit-exact by construction), and the float32 path
performs the same IEEE float32 operations in the same order (16-lane sum, see
``model.update_float``; no fast-math, so no contraction into FMA and no reassociation), so it
is bit-identical to the vectorised path as well; the tests compare them.

Threads: ``threads`` (``run(..., threads=n)``) sets numba's thread count for the run; the
default is numba's (``NUMBA_NUM_THREADS``, else all cores).
"""

from __future__ import annotations

import contextlib

import numpy as np

from .rng import u_mask

try:  # numba is a project dependency; the vectorised numpy path remains without it
    import numba
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "LANES", "padded", "threads", "run_layer_block"]

#: Lanes of the float32 sum (``model.update_float``); latent vectors are padded to a multiple.
LANES = 16
_BLOCK_WORDS = 1 << 22  # spikes buffered per block: patterns x steps x sources


def padded(n: int) -> int:
    return -(-n // LANES) * LANES


@contextlib.contextmanager
def threads(n: int | None):
    """Run the enclosed kernels on ``n`` threads (None: leave numba's setting)."""
    if n is None or not HAVE_NUMBA:
        yield
        return
    if not isinstance(n, int) or n < 1:
        raise ValueError("threads must be a positive integer")
    n = min(n, numba.config.NUMBA_NUM_THREADS)
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(old)


if HAVE_NUMBA:
    _F24 = np.float32(2.0**-24)
    _M32 = np.uint64(0xFFFFFFFF)

    @njit(cache=True, inline="always")
    def _xs_step(x):
        x ^= (x << np.uint64(13)) & _M32
        x ^= x >> np.uint64(17)
        x ^= (x << np.uint64(5)) & _M32
        return x

    @njit(cache=True, inline="always")
    def _search(c, t, n):
        # number of running sums c[i] <= t (c non-decreasing)
        lo = 0
        hi = n
        while lo < hi:
            mid = (lo + hi) >> 1
            if c[mid] <= t:
                lo = mid + 1
            else:
                hi = mid
        return lo

    @njit(cache=True, parallel=True)
    def _select_float(src, state, u, use_u, out):
        """Spikes ``out[b, t, j]`` from float32 sources ``src[b, j, :]`` (see ``rng``)."""
        nb, nt, npos = out.shape
        n = src.shape[2]
        for idx in prange(nb * npos):
            b = idx // npos
            j = idx - b * npos
            c = np.empty(n, np.float32)
            s = np.float32(0.0)
            for i in range(n):
                s = s + src[b, j, i]
                c[i] = s
            x = np.uint64(state[b, j])
            for t in range(nt):
                if use_u:
                    w = np.uint64(u[b, t, j])
                else:
                    x = _xs_step(x)
                    w = x
                if s == np.float32(0.0):
                    out[b, t, j] = -1
                    continue
                uf = np.float32(w >> np.uint64(8)) * _F24
                k = _search(c, uf * s, n)
                out[b, t, j] = min(k, n - 1)
            if not use_u:
                state[b, j] = np.uint32(x)

    @njit(cache=True, parallel=True)
    def _select_fixed(src, state, u, use_u, out, err, umask):
        """Spikes from integer sources (running sum, ``t = ((u & umask) S) >> 32``; see
        ``rng``)."""
        nb, nt, npos = out.shape
        n = src.shape[2]
        for idx in prange(nb * npos):
            b = idx // npos
            j = idx - b * npos
            c = np.empty(n, np.int64)
            s = np.int64(0)
            for i in range(n):
                s += src[b, j, i]
                c[i] = s
            if s >= np.int64(1) << 31:
                err[idx] = 1
            x = np.uint64(state[b, j])
            for t in range(nt):
                if use_u:
                    w = np.int64(u[b, t, j])
                else:
                    x = _xs_step(x)
                    w = np.int64(x)
                if s == 0:
                    out[b, t, j] = -1
                    continue
                k = _search(c, ((w & umask) * s) >> 32, n)
                out[b, t, j] = k
            if not use_u:
                state[b, j] = np.uint32(x)

    @njit(cache=True, parallel=True)
    def _update_float(h, spikes, tab, sx, sy, bcoef, theta):
        """All updates of a block of steps; ``h[b, x, y, :]`` and ``tab`` padded to LANES."""
        nb, nx, ny, nl = h.shape
        nt = spikes.shape[1]
        kxn = tab.shape[0]
        kyn = tab.shape[1]
        for idx in prange(nb * nx * ny):
            b = idx // (nx * ny)
            rem = idx - b * nx * ny
            x = rem // ny
            y = rem - x * ny
            hv = h[b, x, y].copy()
            p = np.empty(nl, np.float32)
            acc = np.empty(LANES, np.float32)
            for t in range(nt):
                for kx in range(kxn):
                    for ky in range(kyn):
                        c = spikes[b, t, x * sx + kx, y * sy + ky]
                        if c < 0:
                            continue
                        w = tab[kx, ky, c]
                        for i in range(nl):
                            p[i] = hv[i] * w[i]
                        for lane in range(LANES):
                            acc[lane] = p[lane]
                        for j in range(LANES, nl, LANES):
                            for lane in range(LANES):
                                acc[lane] = acc[lane] + p[j + lane]
                        half = LANES // 2
                        while half >= 1:
                            for lane in range(half):
                                acc[lane] = acc[lane] + acc[lane + half]
                            half //= 2
                        r = acc[0]
                        if r > theta:
                            q = bcoef / r
                            for i in range(nl):
                                hv[i] = hv[i] + (q * p[i] - bcoef * hv[i])
            h[b, x, y] = hv

    @njit(cache=True, inline="always")
    def _bit_length(r):
        n = 0
        if r >> 32:
            r >>= 32
            n += 32
        if r >> 16:
            r >>= 16
            n += 16
        if r >> 8:
            r >>= 8
            n += 8
        if r >> 4:
            r >>= 4
            n += 4
        if r >> 2:
            r >>= 2
            n += 2
        if r >> 1:
            r >>= 1
            n += 1
        return n + r

    @njit(cache=True, parallel=True)
    def _update_fixed(h, spikes, tab, sx, sy, c1, ce, fbits, sbits, pbits, theta_q, err):
        """Fixed-point updates of a block of steps (``model.update_fixed``), int64 latents."""
        nb, nx, ny, n = h.shape
        nt = spikes.shape[1]
        kxn = tab.shape[0]
        kyn = tab.shape[1]
        top = (np.int64(1) << fbits) - 1
        half_s = np.int64(1) << (sbits - 1)
        cef = np.int64(ce) << fbits
        lim = np.int64(1) << 48
        for idx in prange(nb * nx * ny):
            b = idx // (nx * ny)
            rem = idx - b * nx * ny
            x = rem // ny
            y = rem - x * ny
            hv = h[b, x, y].copy()
            pv = np.empty(n, np.int64)
            for t in range(nt):
                for kx in range(kxn):
                    for ky in range(kyn):
                        c = spikes[b, t, x * sx + kx, y * sy + ky]
                        if c < 0:
                            continue
                        w = tab[kx, ky, c]
                        r = np.int64(0)
                        for i in range(n):
                            v = hv[i] * w[i]
                            pv[i] = v
                            r += v
                        if r >= lim:
                            err[idx] = 1
                        if r <= theta_q:
                            continue
                        sh = _bit_length(r) - pbits
                        if sh > 0:
                            hl = np.int64(1) << (sh - 1)
                            rs = (r + hl) >> sh
                            for i in range(n):
                                pv[i] = (pv[i] + hl) >> sh
                        else:
                            rs = r << -sh
                            for i in range(n):
                                pv[i] = pv[i] << -sh
                        rq = (cef + (rs >> 1)) // rs
                        for i in range(n):
                            v = (hv[i] * c1 + pv[i] * rq + half_s) >> sbits
                            hv[i] = min(v, top)
            h[b, x, y] = hv


def _words_block(gen, li: int, npos: int, steps: int) -> np.ndarray:
    """MT19937 words of ``steps`` steps of source layer ``li``: (batch, steps, npos)."""
    out = np.empty((gen.batch, steps, npos), dtype=np.uint32)
    for t in range(steps):
        out[:, t] = gen.words(li, npos)
    return out


def run_layer_block(runner, gen, li: int, state: np.ndarray, source: np.ndarray,
                    steps: int) -> np.ndarray:
    """``steps`` spike steps of layer ``li`` from the fixed ``source`` (b, px, py, n).

    ``state`` is in the engine's layout (float32 padded to LANES, or int64); returns it updated.
    The words are consumed exactly as ``steps`` calls of ``gen.words(li, px * py)``.
    """
    lay = runner.net.layers[li]
    tab = runner.fast_tables[li]
    batch, px, py, _ = source.shape
    npos = px * py
    src = np.ascontiguousarray(source.reshape(batch, npos, -1))
    per_step = max(1, batch * npos)
    block = max(1, min(steps, _BLOCK_WORDS // per_step))
    use_u = gen.kind != "xorshift"
    sx, sy = lay.stride
    u_bits, h_shift = runner.spike_approx[li]
    umask = np.int64(u_mask(u_bits))
    if h_shift:  # the approximate generator's narrower running sum (see ``rng``)
        src = np.ascontiguousarray(src >> h_shift)
    done = 0
    while done < steps:
        nt = min(block, steps - done)
        spikes = np.empty((batch, nt, npos), dtype=np.int32)
        if use_u:
            u = _words_block(gen, li, npos, nt)
            st = np.zeros((batch, npos), dtype=np.uint32)
        else:
            u = np.zeros((1, 1, 1), dtype=np.uint32)
            st = gen.xorshift_state(li, npos)
        if runner.fixed:
            err = np.zeros(batch * npos, dtype=np.uint8)
            _select_fixed(src, st, u, use_u, spikes, err, umask)
            if err.any():
                raise ValueError("running sum too large for the 32x31-bit selection multiply")
        else:
            _select_float(src, st, u, use_u, spikes)
        if not use_u:
            gen.set_xorshift_state(li, st)
        sp = spikes.reshape(batch, nt, px, py)
        if runner.fixed:
            c1, ce = runner.consts[li]
            hf = runner.hf
            err = np.zeros(state.shape[0] * state.shape[1] * state.shape[2], dtype=np.uint8)
            _update_fixed(state, sp, tab, sx, sy, c1, ce, hf.frac_bits, hf.norm_bits,
                          hf.p_bits, hf.theta_q, err)
            if err.any():
                raise OverflowError("accumulator beyond 48 bits")
        else:
            _update_float(state, sp, tab, sx, sy, runner.bcoef[li], np.float32(runner.theta))
        done += nt
    return state
