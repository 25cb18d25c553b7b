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

    from . import _blocks as _bk

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - only where numba is missing
    numba = None
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "output_stage", "output_thresholds", "Plan", "threads"]

_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1
_BLK = 8  # images per parallel task (one accumulator buffer per task)
_VW = 8  # channel block: the channels are padded to a multiple of it
_POS = 8  # positions (conv: output columns; dense: images) of one register block


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
    ``0 .. nb[c] - 1`` (below the first bucket: 0; beyond the last: all). ``pk[c, q]``: the
    three in one word, ``min(bthr, 2**40) * 2**16 + base * 2**8 + inc`` (base and inc are
    level counts below 2**8; 2**40 is beyond every accumulator), one load per lookup."""
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
    if max(base.max(initial=0), inc.max(initial=0)) >= 2**8:
        raise ValueError("more than 255 output levels")
    pk = np.minimum(bthr, 2**40) * 2**16 + base * 2**8 + inc
    return {"t0": t0, "sh": sh, "nb": nb, "base": base, "bthr": bthr, "inc": inc, "pk": pk}


if HAVE_NUMBA:
    # The accumulators are held in float32 (float64 where the bound below 2**24 does not
    # hold): every partial sum is an integer of magnitude below 2**24 (2**53), so every sum is
    # exact whatever the order of the additions, which lets the compiler vectorise.

    @njit(cache=True, inline="always")
    def _lookup(a, c, lk, act_min):
        """act_min + #{thresholds of channel c <= a}, branch-free (``_buckets``)."""
        t0, sh, nbm1, width, pk = lk  # pk: flat (C * width)
        q = (a - t0[c]) >> sh[c]
        q = min(max(q, 0), nbm1[c])
        v = pk[np.uint64(c * width + q)]  # unsigned: no negative-index handling
        return act_min + ((v >> 8) & 255) + (v & 255) * (a >= (v >> 16))

    @njit(cache=True, inline="always")
    def _check(a, bias, err):
        b = a + bias
        if b < _I32_MIN or b > _I32_MAX:
            err[0] = 1

    @njit(cache=True, inline="always")
    def _emit(accf, a0, aw, cp, n, oh, ow, ph, pw, co, check, bias, lk, act_min, out, err):
        """Output codes of image n from raw accumulators ``accf[a0 + (oy aw + ox) cp + c]``
        (conv: ``aw`` positions per accumulator row; dense: oh = ow = 1), with a max pool
        ``ph x pw`` folded in (1 x 1: none). The output stage is non-decreasing in the
        accumulator, so the code of the window maximum is the maximum of the codes.
        ``check``: every accumulator must fit int32 with its bias (else ``err``); not needed
        where a bound from the weights and the products guarantees it (``Plan``)."""
        if check:
            for oy in range(oh):
                for ox in range(ow):
                    for c in range(co):
                        _check(np.int64(accf[a0 + (oy * aw + ox) * cp + c]), bias[c], err)
        outf = out.reshape(-1)
        mx = np.empty(cp, accf.dtype)
        qh = oh // ph
        qw = ow // pw
        for py in range(qh):
            for px in range(qw):
                p0 = np.uint64(a0 + (py * ph * aw + px * pw) * cp)
                o0 = np.uint64(((n * qh + py) * qw + px) * co)
                # the window maximum, then the lookup: two loops over the channels, so the
                # compiler vectorises both
                for c in range(cp):
                    mx[c] = accf[p0 + np.uint64(c)]
                for dy in range(ph):
                    for dx in range(pw):
                        pd = p0 + np.uint64((dy * aw + dx) * cp)
                        for c in range(cp):
                            mx[c] = max(mx[c], accf[pd + np.uint64(c)])
                for c in range(co):
                    outf[o0 + np.uint64(c)] = _lookup(np.int64(mx[c]), c, lk, act_min)

    @njit(cache=True)
    def _layer(mac, lut, xf, bw, ci, sh, sw, fh, fw, oh, owp, cp, accf, basef, bst):
        """Every accumulator of the layer: exact products (``mac``: the flat taps, ``lut``
        None) or table products (``lut``: the flat product rows, ``mac`` None),
        ``refmodels.cnn._blocks``. A test ``arg is not None`` of an argument that is None is
        resolved when compiling (the branch is dropped), so only one kind of block is compiled
        per path; one function for both layer types, outside their parallel loops, so it is
        compiled once per path."""
        if mac is not None:
            _bk.mac_layer(xf, bw, ci, sh, sw, fh, fw, oh, owp, mac, cp, accf, basef, bst)
        if lut is not None:
            _bk.lut_layer(xf, bw, ci, sh, sw, fh, fw, oh, owp, lut, cp, accf, basef, bst)

    @njit(cache=True, inline="always")
    def _fill(src, s0, n, buf, b0, approx, zp, cp):
        """``buf[b0 : b0 + n] = (src[s0 : s0 + n] + 128) cp`` (approximate: the offset of the
        table row) or ``... - zp`` (exact); flat arrays."""
        for j in range(n):
            v = np.int64(src[s0 + j])
            buf[b0 + j] = (v + 128) * cp if approx else v - zp

    @njit(cache=True, parallel=True)
    def _conv(x, mac, lut, base, zp, sh, sw, pt, pl, fh, fw, oh, ow, owp, bh, bw, ph, pw,
              co, check, bias, lk, act_min, out, err):
        """Conv2D of every image (blocks of ``_BLK`` images in parallel).

        Each image is copied into a buffer ``(bh, bw, ci)`` padded with the neutral value 0
        (exact: ``x - zp``, so padding adds nothing; approximate: the row offset ``(x + 128)
        cp``, and row 0 of ``lut`` is 0, so padding adds nothing either), the accumulators of every
        ``(oy, ox0 .. ox0 + _POS - 1)`` come from ``_layer`` (``ow`` padded to ``owp``, a
        multiple of ``_POS``; the extra columns are computed and dropped), then the output
        stage with a folded max pool ``ph x pw`` (1 x 1: none). Exact: ``mac[k, :]`` the
        filter taps (flat), ``lut`` None, ``base`` 0; approximate: ``mac`` None, ``lut[k, x +
        128, :] = T[k, x + 128, :] - T[k, 0, :]`` (flat) and ``base[p] = sum over the in-image
        taps of p of T[k, 0] - zp corr[p]``, which makes ``sum T[k, x + 128] - zp corr`` exactly."""
        n_img, h, wd, ci = x.shape
        cp = base.shape[1]
        approx = lut is not None
        n_blk = (n_img + _BLK - 1) // _BLK
        for b in prange(n_blk):
            acc = np.empty(oh * owp * cp, base.dtype)
            bf = np.zeros(bh * bw * ci, base.dtype)
            xf = x.reshape(-1)
            for n in range(b * _BLK, min(n_img, (b + 1) * _BLK)):
                for iy in range(h):
                    _fill(xf, ((n * h + iy) * wd) * ci, wd * ci, bf, ((pt + iy) * bw + pl) * ci,
                          approx, zp, cp)
                _layer(mac, lut, bf, bw, ci, sh, sw, fh, fw, oh, owp, cp, acc,
                       base.reshape(-1), cp)
                _emit(acc, 0, owp, cp, n, oh, ow, ph, pw, co, check, bias, lk, act_min, out,
                      err)

    @njit(cache=True, parallel=True)
    def _dense(x, mac, lut, base, zp, co, check, bias, lk, act_min, out, err):
        """FullyConnected of every image, ``_POS`` images at a time (as ``_POS`` positions of
        a 1 x 1 convolution with the inputs as channels), blocks in parallel. Exact: ``acc =
        sum_k mac[k, :] (x - zp)``; approximate: ``acc = base + sum_k lut[k, x + 128, :]``
        with ``lut[k, b] = T[k, b] - T[k, 0]`` and ``base = sum_k T[k, 0] - zp sum_k w[k]``."""
        n_img, k_n = x.shape
        cp = base.shape[1]
        approx = lut is not None
        out4 = out.reshape((n_img, 1, 1, out.shape[1]))
        n_blk = (n_img + _POS - 1) // _POS
        for b in prange(n_blk):
            acc = np.empty(_POS * cp, base.dtype)
            buf = np.zeros(_POS * k_n, base.dtype)
            n0 = b * _POS
            m = min(n_img, n0 + _POS) - n0
            _fill(x.reshape(-1), n0 * k_n, m * k_n, buf, 0, approx, zp, cp)
            # np.int64(): plain int64 arguments, not literals (one compiled kernel for all)
            one = np.int64(1)
            _layer(mac, lut, buf, np.int64(_POS), k_n, one, one, one, one, one,
                   np.int64(_POS), cp, acc, base.reshape(-1), np.int64(0))
            for j in range(m):
                _emit(acc, j * cp, 1, cp, n0 + j, 1, 1, 1, 1, co, check, bias, lk, act_min,
                      out4, err)

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
    """Compile with LLVM's SLP vectoriser (off by default in numba): the accumulators of a
    block (``refmodels.cnn._blocks``) become vector registers. Only the compilation depends
    on it."""
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
                lk = (bk["t0"], bk["sh"], bk["nb"] - 1, bk["pk"].shape[1], bk["pk"].reshape(-1))
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

                # exact: the taps (K, C); approximate: the product rows (K, 256, C)
                rows = _pad_last(delta if approx else wk, cp).astype(tdt).reshape(-1)
                step["tabs"] = (None, rows) if approx else (rows, None)  # (mac, lut)
                if t == "conv2d":
                    h, wd, _ = shape
                    _, fh, fw, ci = wq.shape
                    st = tfl._pair(L.get("stride", 1), "stride")
                    oh, pt, _ = tfl.compute_padding(h, fh, st[0], 1, L["padding"])
                    ow, pl, _ = tfl.compute_padding(wd, fw, st[1], 1, L["padding"])
                    owp = -(-ow // _POS) * _POS  # output columns padded to the block
                    base = np.zeros((oh, owp, co), np.int64)
                    if approx:
                        # zero-point term and x = -128 products over the in-image taps
                        _, valid = tfl.patches(np.zeros((1, *shape), np.int64), fh, fw, st,
                                               L["padding"])
                        vmat = valid.reshape(oh * ow, fh * fw).astype(np.int64)
                        corr = vmat @ wq.sum(axis=3).reshape(co, fh * fw).T
                        b0 = vmat @ tab[:, 0, :].reshape(fh * fw, ci, co).sum(axis=1)
                        base[:, :ow] = (b0 - zp * corr).reshape(oh, ow, co)
                    # the padded image buffer: every tap of every (padded) column inside
                    bh = max(h + pt, (oh - 1) * st[0] + fh)
                    bw = max(wd + pl, (owp - 1) * st[1] + fw)
                    step.update(stride=st, pad=(pt, pl), kernel=(fh, fw), conv_out=(oh, ow),
                                owp=owp, buf=(bh, bw),
                                base=_pad_last(base.reshape(oh * owp, co), cp).astype(dt))
                    shape = (oh, ow, co)
                else:
                    base = np.zeros((1, co), np.int64)
                    if approx:
                        base = (tab[:, 0, :].sum(axis=0) - zp * wq.sum(axis=1))[None]
                    step["base"] = _pad_last(base, cp).astype(dt)
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
                _conv(a, *s["tabs"], s["base"], s["zp"], s["stride"][0],
                      s["stride"][1], s["pad"][0], s["pad"][1], s["kernel"][0], s["kernel"][1],
                      oh, ow, s["owp"], s["buf"][0], s["buf"][1], ph, pw, s["co"], s["check"],
                      s["bias"], s["lk"], s["lo"], out, err)
                a = out
            elif t == "dense":
                out = np.empty((a.shape[0], s["co"]), np.int8)
                _dense(a, *s["tabs"], s["base"], s["zp"], s["co"], s["check"],
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
