"""Compiled, multi-threaded int8 inference of a quantised ``Network`` (numba).

``Network.forward_int8(..., impl="fast")`` (the default ``impl="auto"`` when numba is
importable) runs every layer with the kernels of this module, parallel over the images of the
batch. The results are the int8 codes of the numpy model (``impl="ref"``) bit for bit:

* accumulators: integer sums of the same products over the same in-image taps (the exact
  path multiplies ``w (x - input_zero_point)``; the approximate path adds the per-tap product
  rows ``T[k, x + 128, :]`` of ``refmodels.cnn.approx`` and subtracts the exact zero-point term
  ``zp sum w`` over the in-image taps), in int32 where a bound computed from the weights and
  the multiplier table guarantees it cannot overflow, else the layer is refused;
* output stage (bias, rescale, output zero point, clamp to the fused activation's range): a
  per-channel table of thresholds *built by evaluating the shared helper*
  ``refmodels.cnn.tflite.requantize`` (see ``output_stage``) and looked up by binary search.
  Rescaling followed by the clamp is a non-decreasing function of the accumulator, so the
  output code is ``act_min + #{j : acc >= threshold[c, j]}`` where ``threshold[c, j]`` is the
  smallest accumulator whose output is at least ``act_min + j + 1``; whatever rounding
  ``requantize`` implements is inherited. A biased accumulator outside int32 raises
  ``OverflowError`` as in the numpy model.
* max pooling: the maximum of the window (VALID, non-overlapping).

Threads: ``threads`` sets numba's thread count for the call (default: numba's setting,
``NUMBA_NUM_THREADS`` or all cores).
"""

from __future__ import annotations

import contextlib

import numpy as np

from . import tflite as tfl

try:
    import numba
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - only where numba is missing
    numba = None
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "output_stage", "output_thresholds", "Plan", "threads"]

_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1
_BLK = 8  # images per parallel task (one accumulator buffer per task)
_VW = 8  # channel block: the channels are padded to a multiple of it


@contextlib.contextmanager
def threads(n: int | None):
    """Run the enclosed kernels on ``n`` threads (None: numba's setting)."""
    if n is None or not HAVE_NUMBA:
        yield
        return
    if not isinstance(n, int) or n < 1:
        raise ValueError("threads must be a positive integer")
    old = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def output_stage(kind: str, single_rounding: bool, rounding: str = "reference", scale=None):
    """The numpy output stage the reference path applies to a layer of type ``kind``:
    ``f(acc, bias, multiplier, shift, output_zero_point, act_min, act_max) -> int8``.

    The one place that names the shared helper: ``tflite.requantize_layer`` of the layer's kind
    on the network's rounding path (``scale``: the effective scale that path needs, from
    ``Network._eff_scale``).
    """
    if kind not in ("conv2d", "dense"):
        raise ValueError(f"no output stage for layer type {kind!r}")
    layer_kind = "fully_connected" if kind == "dense" else "conv2d"

    def f(acc, bias, multiplier, shift, out_zp, act_min, act_max):
        return tfl.requantize_layer(layer_kind, acc, bias, multiplier, shift, out_zp, act_min,
                                    act_max, single_rounding, rounding, scale)

    return f


def output_thresholds(stage, bias, multiplier, shift, out_zp, act_min, act_max, n_ch):
    """``thr[c, j]`` (int64, shape (C, act_max - act_min)): the smallest raw accumulator whose
    output code is at least ``act_min + j + 1`` (``2**32`` if none in the int32 range of the
    biased accumulator). Vectorised binary search, evaluating ``stage`` only."""
    bias = np.broadcast_to(np.asarray(bias, np.int64), (n_ch,))
    mult = np.broadcast_to(np.asarray(multiplier, np.int64), (n_ch,))
    sh = np.broadcast_to(np.asarray(shift, np.int64), (n_ch,))
    levels = int(act_max) - int(act_min)
    if levels <= 0:
        return np.zeros((n_ch, 0), np.int64)
    target = int(act_min) + 1 + np.arange(levels, dtype=np.int64)[:, None]  # (L, 1)
    lo = np.broadcast_to(_I32_MIN - bias, (levels, n_ch)).copy()  # raw acc range
    hi = np.broadcast_to(_I32_MAX - bias + 1, (levels, n_ch)).copy()  # hi: "none"

    def out(a):
        return stage(a, bias, mult, sh, out_zp, act_min, act_max).astype(np.int64)

    # invariant: out(x) < target for x < lo; out(x) >= target for x >= hi (hi may be "none")
    while True:
        open_ = lo < hi
        if not open_.any():
            break
        mid = lo + (hi - lo) // 2
        ok = out(np.where(open_, mid, lo)) >= target
        hi = np.where(open_ & ok, mid, hi)
        lo = np.where(open_ & ~ok, mid + 1, lo)
    thr = lo.T.copy()
    thr[thr > _I32_MAX - bias[:, None]] = 2**32  # never reached
    return thr


def _buckets(thr):
    """The thresholds of every channel as a branch-free lookup (``_lookup``).

    Per channel c with finite thresholds ``u`` (distinct values, sorted; a value shared by
    several levels counts for each): ``s[c]`` is the largest shift with ``2**s`` at most the
    smallest gap between distinct thresholds, so every bucket ``[t0 + q 2**s, t0 + (q+1)
    2**s)`` (``t0[c] = u[0]``) holds at most one of them. ``bthr[c, q]``: that threshold
    (``2**62`` if none), ``inc[c, q]``: how many levels it stands for, ``base[c, q]``: the
    levels of the thresholds in the buckets before q. The count of thresholds ``<= a`` is
    ``base[c, q] + inc[c, q] (a >= bthr[c, q])`` with ``q = (a - t0) >> s`` clamped to
    ``0 .. nb[c] - 1`` (below the first bucket: 0; beyond the last: all)."""
    c_n = thr.shape[0]
    t0 = np.zeros(c_n, np.int64)
    sh = np.zeros(c_n, np.int64)
    nb = np.ones(c_n, np.int64)
    rows = []
    for c in range(c_n):
        fin = thr[c][thr[c] < 2**32]
        if len(fin) == 0:
            rows.append((np.zeros(1, np.int64), np.full(1, 2**62, np.int64),
                         np.zeros(1, np.int64)))
            continue
        u, cnt = np.unique(fin, return_counts=True)
        gap = int(np.diff(u).min()) if len(u) > 1 else 1 << 40
        s = min(int(gap).bit_length() - 1, 40)
        q = (u - u[0]) >> s
        n = int(q[-1]) + 1
        if n > 1 << 20:
            raise ValueError("output stage thresholds too irregular for the fast lookup")
        bthr = np.full(n, 2**62, np.int64)
        inc = np.zeros(n, np.int64)
        bthr[q] = u
        inc[q] = cnt
        rows.append((np.concatenate([[0], np.cumsum(inc)[:-1]]), bthr, inc))
        t0[c], sh[c], nb[c] = u[0], s, n
    width = int(nb.max())
    base = np.zeros((c_n, width), np.int64)
    bthr = np.full((c_n, width), 2**62, np.int64)
    inc = np.zeros((c_n, width), np.int64)
    for c, (b_, t_, i_) in enumerate(rows):
        base[c, : len(b_)], bthr[c, : len(t_)], inc[c, : len(i_)] = b_, t_, i_
    return {"t0": t0, "sh": sh, "nb": nb, "base": base, "bthr": bthr, "inc": inc}


if HAVE_NUMBA:
    # The accumulators are held in float32 (float64 where the bound below 2**24 does not
    # hold): every partial sum is an integer of magnitude below 2**24 (2**53), so every sum is
    # exact whatever the order of the additions, which lets the compiler vectorise.

    @njit(cache=True, inline="always")
    def _lookup(a, c, lk, act_min):
        """act_min + #{thresholds of channel c <= a}, branch-free (``_buckets``)."""
        t0, sh, nb, width, base, bthr, inc = lk  # base, bthr, inc: flat (C * width)
        q = (a - t0[c]) >> sh[c]
        q = min(max(q, 0), nb[c] - 1)
        i = np.uint64(c * width + q)  # unsigned: no negative-index handling
        return act_min + base[i] + inc[i] * (a >= bthr[i])

    @njit(cache=True, inline="always")
    def _check(a, bias, err):
        b = a + bias
        if b < _I32_MIN or b > _I32_MAX:
            err[0] = 1

    @njit(cache=True, inline="always")
    def _emit(acc, n, oh, ow, ph, pw, co, check, bias, lk, act_min,
              out, err):
        """Output codes of one image from raw accumulators ``acc[p, c]`` (p = oy * ow + ox;
        conv) or ``acc[0, c]`` (dense, oh = ow = 1), with a max pool ``ph x pw`` folded in
        (1 x 1: none). The output stage is non-decreasing in the accumulator, so the code of
        the window maximum is the maximum of the codes. ``check``: every accumulator must fit
        int32 with its bias (else ``err``); not needed where a bound from the weights and the
        products guarantees it (``Plan``)."""
        if check:
            for c in range(co):
                lo = acc[0, c]
                hi = acc[0, c]
                for p in range(oh * ow):
                    lo = min(lo, acc[p, c])
                    hi = max(hi, acc[p, c])
                _check(np.int64(lo), bias[c], err)
                _check(np.int64(hi), bias[c], err)
        cp = acc.shape[1]
        accf = acc.reshape(-1)
        outf = out.reshape(-1)
        qh = oh // ph
        qw = ow // pw
        for py in range(qh):
            for px in range(qw):
                p0 = np.uint64((py * ph * ow + px * pw) * cp)
                o0 = np.uint64(((n * qh + py) * qw + px) * co)
                for c in range(co):
                    cu = np.uint64(c)
                    m = accf[p0 + cu]
                    for dy in range(ph):
                        for dx in range(pw):
                            m = max(m, accf[p0 + np.uint64((dy * ow + dx) * cp) + cu])
                    outf[o0 + cu] = _lookup(np.int64(m), c, lk, act_min)

    @njit(cache=True, fastmath={"contract"})
    def _conv_acc(x, n, tab, base, approx, zp, sh, sw, pt, pl, fh, fw, oh, ow, acc):
        """Raw Conv2D accumulators ``acc[p, :]`` (p = oy * ow + ox, channels padded to ``cp``,
        a multiple of ``_VW``) of image n, input by input: each input value that is not at the
        zero point (exact) / not -128 (approximate) adds one row into the accumulators of every
        output position whose window holds it.

        Exact: ``tab[i, ky, kx, :]`` holds the filter taps, the row added is
        ``tab[i, ky, kx, :] (x - zp)``, and ``acc`` starts at 0. Approximate:
        ``tab[x + 128, i, ky, kx, :] = T[k, x + 128, :] - T[k, 0, :]`` (T: the product rows of
        ``approx``, k the tap) and ``acc`` starts at ``base[p] = sum over the in-image taps of p
        of T[k, 0] - zp corr[p]``, which makes ``sum T[k, x + 128] - zp corr`` exactly."""
        _, h, wd, ci = x.shape
        cp = base.shape[1]
        tabf = tab.reshape(-1)
        accf = acc.reshape(-1)
        if approx:
            acc[:, :] = base
        else:
            acc[:, :] = 0
        unit = sh == 1 and sw == 1
        for iy in range(h):
            # taps ky of the output rows oy = iy + pt - ky in 0..oh-1 (stride 1)
            ky_lo = max(0, iy + pt - oh + 1)
            ky_hi = min(fh, iy + pt + 1)
            for ix in range(wd):
                kx_lo = max(0, ix + pl - ow + 1)
                kx_hi = min(fw, ix + pl + 1)
                for i in range(ci):
                    if approx:
                        xb = np.int64(x[n, iy, ix, i]) + 128
                        if xb == 0:
                            continue
                        row0 = ((xb * ci + i) * fh) * fw * cp
                        f = base.dtype.type(1)
                    else:
                        xr = np.int64(x[n, iy, ix, i]) - zp
                        if xr == 0:
                            continue
                        row0 = i * fh * fw * cp
                        f = base.dtype.type(xr)
                    if unit:
                        for ky in range(ky_lo, ky_hi):
                            ao = ((iy + pt - ky) * ow + ix + pl - kx_lo) * cp
                            to = row0 + (ky * fw + kx_lo) * cp
                            for _ in range(kx_lo, kx_hi):
                                _row_add(accf, ao, tabf, to, cp, f, approx)
                                ao -= cp
                                to += cp
                        continue
                    for ky in range(fh):
                        ty = iy + pt - ky
                        if ty < 0:
                            break
                        oy = ty // sh
                        if oy * sh != ty or oy >= oh:
                            continue
                        for kx in range(fw):
                            tx = ix + pl - kx
                            if tx < 0:
                                break
                            ox = tx // sw
                            if ox * sw != tx or ox >= ow:
                                continue
                            _row_add(accf, (oy * ow + ox) * cp, tabf,
                                     row0 + (ky * fw + kx) * cp, cp, f, approx)

    @njit(cache=True, inline="always", fastmath={"contract"})
    def _blk8(accf, ai, tabf, ti, f, approx):
        """accf[ai : ai + 8] += tabf[ti : ti + 8] (approximate) or ... * f (exact). Flat
        unsigned indices and no array views (no reference counting, no negative-index
        handling); all loads of the table before the stores (the two arrays could alias, for
        the compiler), so the eight lanes become one vector operation."""
        v0 = tabf[ti + np.uint64(0)]
        v1 = tabf[ti + np.uint64(1)]
        v2 = tabf[ti + np.uint64(2)]
        v3 = tabf[ti + np.uint64(3)]
        v4 = tabf[ti + np.uint64(4)]
        v5 = tabf[ti + np.uint64(5)]
        v6 = tabf[ti + np.uint64(6)]
        v7 = tabf[ti + np.uint64(7)]
        if approx:
            accf[ai + np.uint64(0)] += v0
            accf[ai + np.uint64(1)] += v1
            accf[ai + np.uint64(2)] += v2
            accf[ai + np.uint64(3)] += v3
            accf[ai + np.uint64(4)] += v4
            accf[ai + np.uint64(5)] += v5
            accf[ai + np.uint64(6)] += v6
            accf[ai + np.uint64(7)] += v7
        else:
            accf[ai + np.uint64(0)] += v0 * f
            accf[ai + np.uint64(1)] += v1 * f
            accf[ai + np.uint64(2)] += v2 * f
            accf[ai + np.uint64(3)] += v3 * f
            accf[ai + np.uint64(4)] += v4 * f
            accf[ai + np.uint64(5)] += v5 * f
            accf[ai + np.uint64(6)] += v6 * f
            accf[ai + np.uint64(7)] += v7 * f

    @njit(cache=True, inline="always", fastmath={"contract"})
    def _row_add(accf, ao, tabf, to, cp, f, approx):
        """accf[ao : ao + cp] += tabf[to : to + cp] (approximate) or ... * f (exact), in blocks
        of ``_VW`` (== 8) lanes; 8 and 16 lanes unrolled (no loop, no run-time alias check)."""
        ai = np.uint64(ao)
        ti = np.uint64(to)
        if cp == 8:
            _blk8(accf, ai, tabf, ti, f, approx)
        elif cp == 16:
            _blk8(accf, ai, tabf, ti, f, approx)
            _blk8(accf, ai + np.uint64(8), tabf, ti + np.uint64(8), f, approx)
        else:
            for c0 in range(0, cp, _VW):
                _blk8(accf, ai + np.uint64(c0), tabf, ti + np.uint64(c0), f, approx)

    @njit(cache=True, parallel=True)
    def _conv(x, tab, base, approx, zp, sh, sw, pt, pl, fh, fw, oh, ow, ph, pw, co, check,
              bias, lk, act_min, out, err):
        """Conv2D of every image (blocks of ``_BLK`` images in parallel): the accumulators of
        ``_conv_acc``, then the output stage with a folded max pool ``ph x pw`` (1 x 1:
        none)."""
        n_img = x.shape[0]
        n_blk = (n_img + _BLK - 1) // _BLK
        for b in prange(n_blk):
            acc = np.empty((oh * ow, base.shape[1]), base.dtype)
            for n in range(b * _BLK, min(n_img, (b + 1) * _BLK)):
                _conv_acc(x, n, tab, base, approx, zp, sh, sw, pt, pl, fh, fw, oh, ow, acc)
                _emit(acc, n, oh, ow, ph, pw, co, check, bias, lk, act_min, out, err)

    @njit(cache=True, fastmath={"contract"})
    def _dense_acc(x, n, tab, base, approx, zp, acc):
        """FullyConnected accumulators of image n, input by input. Exact: ``acc += tab[k, :]
        (x - zp)`` (inputs at the zero point add 0); approximate: ``acc = base + sum over
        inputs with x != -128 of tab[k, x + 128, :]`` with ``tab[k, b] = T[k, b] - T[k, 0]``
        and ``base = sum_k T[k, 0] - zp sum_k w[k]``."""
        k_n = x.shape[1]
        cp = base.shape[1]
        tabf = tab.reshape(-1)
        accf = acc.reshape(-1)
        if approx:
            acc[:, :] = base
        else:
            acc[:, :] = 0
        for k in range(k_n):
            if approx:
                xb = np.int64(x[n, k]) + 128
                if xb == 0:
                    continue
                to = (k * 256 + xb) * cp
                f = base.dtype.type(1)
            else:
                xr = np.int64(x[n, k]) - zp
                if xr == 0:
                    continue
                to = k * cp
                f = base.dtype.type(xr)
            _row_add(accf, 0, tabf, to, cp, f, approx)

    @njit(cache=True, parallel=True)
    def _dense(x, tab, base, approx, zp, co, check, bias, lk, act_min,
               out, err):
        """FullyConnected of every image (blocks of ``_BLK`` images in parallel)."""
        n_img = x.shape[0]
        out4 = out.reshape((n_img, 1, 1, out.shape[1]))
        n_blk = (n_img + _BLK - 1) // _BLK
        for b in prange(n_blk):
            acc = np.empty((1, base.shape[1]), base.dtype)
            for n in range(b * _BLK, min(n_img, (b + 1) * _BLK)):
                _dense_acc(x, n, tab, base, approx, zp, acc)
                _emit(acc, n, 1, 1, 1, 1, co, check, bias, lk, act_min, out4, err)

    @njit(cache=True, parallel=True)
    def _maxpool(x, ph, pw, out):
        n_img, _, _, c_n = x.shape
        _, oh, ow, _ = out.shape
        for n in prange(n_img):
            for oy in range(oh):
                for ox in range(ow):
                    for c in range(c_n):
                        m = x[n, oy * ph, ox * pw, c]
                        for dy in range(ph):
                            for dx in range(pw):
                                v = x[n, oy * ph + dy, ox * pw + dx, c]
                                if v > m:
                                    m = v
                        out[n, oy, ox, c] = m


def _pad_last(arr, n):
    """``arr`` with its last axis padded with zeros to length n (C-contiguous)."""
    pad = [(0, 0)] * (arr.ndim - 1) + [(0, n - arr.shape[-1])]
    return np.ascontiguousarray(np.pad(arr, pad))


@contextlib.contextmanager
def _slp():
    """Compile with LLVM's SLP vectoriser (off by default in numba): the 8-lane blocks of
    ``_blk8`` become single vector operations. Only the compilation depends on it."""
    old = numba.config.SLP_VECTORIZE
    numba.config.SLP_VECTORIZE = 1
    try:
        yield
    finally:
        numba.config.SLP_VECTORIZE = old


class Plan:
    """The compiled form of a quantised network for one multiplier and rounding variant.

    ``fold_pool``: a max pool right after a conv2d is folded into the conv's output stage
    (not when every layer's output is wanted, ``trace``)."""

    def __init__(self, net, mul=None, single_rounding=False, fold_pool=True,
                 rounding="reference"):
        if not HAVE_NUMBA:
            raise RuntimeError("the fast int8 path needs numba")
        self.steps = []
        qin = net.topology["quant"]["input"]
        s_in, zp_in = qin["scale"], qin["zero_point"]
        shape = tuple(net.topology["input"])
        approx = mul is not None
        for L in net.layers:
            t, nm = L["type"], L["name"]
            if t in ("conv2d", "dense"):
                m, sh, qo, lo, hi = net._qparams(L, s_in, rounding)
                fcs = net._eff_scale(L, s_in, rounding)
                wq = net.arrays[nm + ".wq"].astype(np.int64)
                bq = net.arrays[nm + ".bq"].astype(np.int64)
                co = wq.shape[0]
                stage = output_stage(t, single_rounding, rounding, fcs)
                thr = output_thresholds(stage, bq, m, sh, qo["zero_point"], lo, hi, co)
                bk = _buckets(thr)
                lk = (bk["t0"], bk["sh"], bk["nb"], bk["base"].shape[1],
                      *(bk[key].reshape(-1) for key in ("base", "bthr", "inc")))
                zp = int(zp_in) + (mul.zp_offset if approx else 0)
                wk = wq.reshape(co, -1).T  # (K, C), taps in (fh, fw, ci) order
                k = wk.shape[0]
                cp = -(-co // _VW) * _VW  # channels padded to the vector block
                wabs = int(np.abs(wk).sum(axis=0).max())
                if approx:
                    # the (K, 257, C) product rows of the numpy path
                    tab = net._tap_tables(nm, mul).astype(np.int64)
                    delta = tab[:, :256, :] - tab[:, :1, :]  # (K, 256, C); 0 at x = -128
                    # |acc| at the end, and bounds of every partial sum (base + some rows)
                    final = k * mul.max_abs + abs(zp) * wabs
                    peak = 3 * k * mul.max_abs + abs(zp) * wabs
                    dt = np.int32 if peak < 2**31 else np.int64
                    tdt = np.int16 if np.abs(delta).max() < 2**15 else np.int32
                else:
                    final = peak = wabs * 255  # |x - zp| <= 255
                    if peak >= 2**53:
                        raise OverflowError(f"layer {nm}: accumulator beyond 2**53")
                    # float accumulators hold integers below 2**24 (2**53): exact in any order
                    dt = tdt = np.float32 if peak < 2**24 else np.float64
                # the biased accumulator cannot leave int32: no run-time check needed
                check = bool(final + int(np.abs(bq).max(initial=0)) > _I32_MAX)
                step = {"type": t, "zp": int(zp), "bias": bq, "lk": lk, "lo": int(lo),
                        "check": check, "approx": approx, "co": co, "name": nm,
                        "pool": (1, 1)}

                if t == "conv2d":
                    _, fh, fw, ci = wq.shape
                    st = tfl._pair(L.get("stride", 1), "stride")
                    oh, pt, _ = tfl.compute_padding(shape[0], fh, st[0], 1, L["padding"])
                    ow, pl, _ = tfl.compute_padding(shape[1], fw, st[1], 1, L["padding"])
                    base = np.zeros((oh * ow, co), np.int64)
                    if approx:
                        # zero-point term and x = -128 products over the in-image taps
                        _, valid = tfl.patches(np.zeros((1, *shape), np.int64), fh, fw, st,
                                               L["padding"])
                        vmat = valid.reshape(oh * ow, fh * fw).astype(np.int64)
                        corr = vmat @ wq.sum(axis=3).reshape(co, fh * fw).T
                        base = vmat @ tab[:, 0, :].reshape(fh * fw, ci, co).sum(axis=1)
                        base = base - zp * corr
                        # rows (x + 128, ci, fh, fw, C) from taps k = (ky fw + kx) ci + i
                        rows = delta.reshape(fh, fw, ci, 256, co).transpose(3, 2, 0, 1, 4)
                    else:
                        rows = wq.transpose(3, 1, 2, 0)  # (ci, fh, fw, C)
                    step.update(stride=st, pad=(pt, pl), kernel=(fh, fw), conv_out=(oh, ow))
                    step.update(base=_pad_last(base, cp).astype(dt),
                                tab=_pad_last(rows, cp).astype(tdt))
                    shape = (oh, ow, co)
                else:
                    base = np.zeros((1, co), np.int64)
                    if approx:
                        base = (tab[:, 0, :].sum(axis=0) - zp * wq.sum(axis=1))[None]
                        rows = delta
                    else:
                        rows = wk
                    step.update(base=_pad_last(base, cp).astype(dt),
                                tab=_pad_last(rows, cp).astype(tdt))
                    shape = (co,)
                s_in, zp_in = qo["scale"], qo["zero_point"]
            elif t == "maxpool":
                ph, pw = L["pool"]
                prev = self.steps[-1] if self.steps else None
                if (fold_pool and prev is not None and prev["type"] == "conv2d"
                        and prev["pool"] == (1, 1)):
                    prev["pool"] = (ph, pw)
                    prev["pool_name"] = nm
                    shape = (shape[0] // ph, shape[1] // pw, shape[2])
                    continue
                step = {"type": t, "pool": (ph, pw), "name": nm}
                shape = (shape[0] // ph, shape[1] // pw, shape[2])
            elif t == "flatten":
                step = {"type": t, "name": nm}
                shape = (int(np.prod(shape)),)
            else:
                raise ValueError(f"layer type {t!r} has no fast kernel")
            self.steps.append(step)

    def run(self, xq, trace=None):
        with _slp():
            return self._run(xq, trace)

    def _run(self, xq, trace):
        a = np.ascontiguousarray(xq, dtype=np.int8)
        err = np.zeros(1, np.uint8)
        for s in self.steps:
            t = s["type"]
            if t == "conv2d":
                (oh, ow), (ph, pw) = s["conv_out"], s["pool"]
                out = np.empty((a.shape[0], oh // ph, ow // pw, s["co"]), np.int8)
                _conv(a, s["tab"], s["base"], s["approx"], s["zp"], s["stride"][0],
                      s["stride"][1], s["pad"][0], s["pad"][1], s["kernel"][0], s["kernel"][1],
                      oh, ow, ph, pw, s["co"], s["check"], s["bias"], s["lk"], s["lo"],
                      out, err)
                a = out
            elif t == "dense":
                out = np.empty((a.shape[0], s["co"]), np.int8)
                _dense(a, s["tab"], s["base"], s["approx"], s["zp"], s["co"], s["check"],
                       s["bias"], s["lk"], s["lo"], out, err)
                a = out
            elif t == "maxpool":
                ph, pw = s["pool"]
                out = np.empty((a.shape[0], a.shape[1] // ph, a.shape[2] // pw, a.shape[3]),
                               np.int8)
                _maxpool(a, ph, pw, out)
                a = out
            else:
                a = a.reshape(a.shape[0], -1)
            if err[0]:
                raise OverflowError("int32 accumulator overflow")
            if trace is not None:
                trace[s["name"]] = a
        return a
