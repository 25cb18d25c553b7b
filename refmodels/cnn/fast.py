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


def _guess_slopes(thr, bias):
    """Per channel: a linear guess ``trunc((acc - t0) * slope)`` (clamped to 0 .. the number
    of reachable thresholds ``nfin``) of the threshold count, the window ``span = 2 E + 2``
    where E bounds the error of the clamped guess over the whole int32 range of the biased
    accumulator, and the thresholds padded with never-reached entries.

    E is the largest error at the accumulators next to every threshold and at both ends of
    the range: between them the count is constant and the guess monotone, so these bound it.
    """
    c_n, levels = thr.shape
    t0 = np.zeros(c_n, np.float64)
    slope = np.zeros(c_n, np.float64)
    span = np.zeros(c_n, np.int64)
    nfin = np.zeros(c_n, np.int64)
    bias = np.broadcast_to(np.asarray(bias, np.int64), (c_n,))
    for c in range(c_n):
        fin = thr[c][thr[c] < 2**32]
        if len(fin) >= 2 and fin[-1] > fin[0]:
            t0[c] = fin[0]
            slope[c] = (len(fin) - 1) / float(fin[-1] - fin[0])
        elif len(fin):
            t0[c] = fin[0]
        amin, amax = _I32_MIN - bias[c], _I32_MAX - bias[c]
        pts = np.clip(np.concatenate([fin, fin - 1, [amin, amax]]), amin, amax)
        cnt = np.searchsorted(thr[c], pts, side="right")
        guess = np.trunc((pts.astype(np.float64) - t0[c]) * slope[c])
        guess = np.clip(guess, 0, len(fin)).astype(np.int64)
        span[c] = 2 * int(np.abs(guess - cnt).max()) + 2
        nfin[c] = len(fin)
    pad = np.full((c_n, int(span.max())), 2**62, np.int64)
    return t0, slope, span, nfin, np.ascontiguousarray(np.concatenate([thr, pad], axis=1))


if HAVE_NUMBA:
    # The accumulators are held in float32 (float64 where the bound below 2**24 does not
    # hold): every partial sum is an integer of magnitude below 2**24 (2**53), so every sum is
    # exact whatever the order of the additions, which lets the compiler vectorise.

    @njit(cache=True, inline="always")
    def _lookup(a, t, t0, slope, span, nfin, act_min):
        """act_min + #{j : t[j] <= a} for sorted thresholds t (exact): the clamped linear
        guess g is within E = (span - 2) / 2 of the count (``_guess_slopes``), so the count
        is j = max(g - E, 0) plus the thresholds <= a among the ``span`` from j on."""
        g = np.int64((np.float64(a) - t0) * slope)
        g = min(max(g, 0), nfin)
        j = max(g - (span - 2) // 2, 0)
        cnt = j
        for m in range(span):
            cnt += t[j + m] <= a
        return act_min + cnt

    @njit(cache=True, inline="always")
    def _check(a, bias, err):
        b = a + bias
        if b < _I32_MIN or b > _I32_MAX:
            err[0] = 1

    @njit(cache=True, inline="always")
    def _emit_pooled(acc, n, oh, ow, ph, pw, bias, thr, t0, slope, span, nfin, act_min, out, err):
        """Output codes of one image from raw accumulators ``acc[c, oy * ow + ox]``, with a
        max pool ``ph x pw`` folded in (1 x 1: none). The output stage is non-decreasing in
        the accumulator, so the code of the window maximum is the maximum of the codes."""
        co = acc.shape[0]
        qh = oh // ph
        qw = ow // pw
        m = np.empty(qw, acc.dtype)
        for c in range(co):
            a_c = acc[c]
            lo = a_c[0]
            hi = a_c[0]
            for p in range(a_c.shape[0]):  # every accumulator must fit int32 with its bias
                lo = min(lo, a_c[p])
                hi = max(hi, a_c[p])
            _check(np.int64(lo), bias[c], err)
            _check(np.int64(hi), bias[c], err)
            for py in range(qh):
                r0 = a_c[py * ph * ow:]
                for px in range(qw):
                    m[px] = r0[px * pw]
                for dy in range(ph):
                    r = a_c[(py * ph + dy) * ow:]
                    for dx in range(pw):
                        for px in range(qw):
                            m[px] = max(m[px], r[px * pw + dx])
                for px in range(qw):
                    out[n, py, px, c] = _lookup(np.int64(m[px]), thr[c], t0[c], slope[c],
                                                span[c], nfin[c], act_min)

    @njit(cache=True, parallel=True, fastmath={"reassoc", "contract"})
    def _conv_im2col(x, w, zp, sh, sw, pt, pl, fh, fw, oh, ow, ph, pw, bias, thr, t0, slope,
                     span, nfin, act_min, out, err):
        """Exact Conv2D of every image (in parallel): ``acc[c, p] += w[k, c] (x - zp)`` tap by
        tap over all output positions p (padded taps hold x - zp = 0), then the output stage
        (with a folded max pool ``ph x pw``)."""
        n_img, h, wd, ci = x.shape
        k_n = fh * fw * ci
        n_pos = oh * ow
        co = w.shape[1]
        inside = (sh == 1 and sw == 1 and pt == 0 and pl == 0 and oh + fh - 1 <= h
                  and ow + fw - 1 <= wd)  # every tap of every position in the image
        for n in prange(n_img):
            xv = np.zeros((k_n, n_pos), w.dtype)
            if inside:
                for ky in range(fh):
                    for kx in range(fw):
                        for i in range(ci):
                            xk = xv[(ky * fw + kx) * ci + i]
                            for oy in range(oh):
                                row = xk[oy * ow:]
                                src = x[n, oy + ky]
                                for ox in range(ow):
                                    row[ox] = src[ox + kx, i] - zp
            for ky in range(0 if inside else fh):
                for kx in range(fw):
                    # output columns whose input column ox*sw - pl + kx lies in the image
                    lo = 0
                    while lo < ow and lo * sw - pl + kx < 0:
                        lo += 1
                    hi = ow
                    while hi > lo and (hi - 1) * sw - pl + kx >= wd:
                        hi -= 1
                    for i in range(ci):
                        xk = xv[(ky * fw + kx) * ci + i]
                        for oy in range(oh):
                            iy = oy * sh - pt + ky
                            if iy < 0 or iy >= h:
                                continue
                            row = xk[oy * ow:]
                            src = x[n, iy]
                            # row[ox] = x[n, iy, ox * sw - pl + kx, i] - zp, ox in lo..hi-1
                            s2 = src[lo * sw - pl + kx :: sw, i]
                            r2 = row[lo:hi]
                            for j in range(hi - lo):
                                r2[j] = s2[j] - zp
            acc = np.zeros((co, n_pos), w.dtype)
            for k in range(k_n):
                xk = xv[k]
                for c in range(co):
                    a = acc[c]
                    wv = w[k, c]
                    for p in range(n_pos):
                        a[p] += wv * xk[p]
            _emit_pooled(acc, n, oh, ow, ph, pw, bias, thr, t0, slope, span, nfin, act_min, out,
                         err)

    @njit(cache=True, parallel=True, fastmath={"reassoc", "contract"})
    def _conv_scatter(x, w, delta, base, approx, zp, sh, sw, pt, pl, fh, fw, oh, ow, ph, pw,
                      bias, thr, t0, slope, span, nfin, act_min, out, err):
        """Conv2D of every image (in parallel), input by input: every input value is added
        into the accumulators ``acc[p, :]`` of the output positions p whose window holds it.

        Exact: ``acc = 0 + w[k, :] (x - zp)`` (inputs at the zero point add 0); approximate:
        ``acc = base[p] + delta[k, x + 128, :]`` for inputs with x != -128, where
        ``delta[k, b] = T[k, b] - T[k, 0]`` (T: the product rows of ``approx``) and
        ``base[p] = sum over the in-image taps of p of T[k, 0] - zp corr[p]``; this is
        ``sum T[k, x + 128] - zp corr`` exactly. Then the output stage with a folded max pool
        ``ph x pw`` (1 x 1: none)."""
        n_img, h, wd, ci = x.shape
        n_pos = oh * ow
        co = base.shape[1]
        for n in prange(n_img):
            acc = np.empty((n_pos, co), base.dtype)
            for p in range(n_pos):
                for c in range(co):
                    acc[p, c] = base[p, c]
            accf = acc.reshape(-1)
            deltaf = delta.reshape(-1)
            wf = w.reshape(-1)
            for iy in range(h):
                for ix in range(wd):
                    for i in range(ci):
                        xr = np.int32(x[n, iy, ix, i])
                        if approx:
                            if xr == -128:
                                continue
                        elif xr == zp:
                            continue
                        f = base.dtype.type(xr - zp)
                        for ky in range(fh):
                            ty = iy + pt - ky
                            if ty < 0:
                                break
                            oy = ty
                            if sh != 1:
                                oy = ty // sh
                                if oy * sh != ty:
                                    continue
                            if oy >= oh:
                                continue
                            for kx in range(fw):
                                tx = ix + pl - kx
                                if tx < 0:
                                    break
                                ox = tx
                                if sw != 1:
                                    ox = tx // sw
                                    if ox * sw != tx:
                                        continue
                                if ox >= ow:
                                    continue
                                k = (ky * fw + kx) * ci + i
                                ao = np.uint64((oy * ow + ox) * co)
                                if approx:
                                    do = np.uint64((k * 257 + xr + 128) * co)
                                    for c in range(co):
                                        cu = np.uint64(c)
                                        accf[ao + cu] += deltaf[do + cu]
                                else:
                                    wo = np.uint64(k * co)
                                    for c in range(co):
                                        cu = np.uint64(c)
                                        accf[ao + cu] += wf[wo + cu] * f
            _emit_pooled(acc.T, n, oh, ow, ph, pw, bias, thr, t0, slope, span, nfin, act_min, out,
                         err)

    @njit(cache=True, parallel=True, fastmath={"reassoc", "contract"})
    def _dense(x, w, delta, base, approx, zp, bias, thr, t0, slope, span, nfin, act_min, out, err):
        """FullyConnected of every image (in parallel), input by input. Exact: ``acc +=
        w[k, :] (x - zp)`` (inputs at the zero point add 0); approximate: ``acc = base +
        sum over inputs with x != -128 of delta[k, x + 128, :]`` (see ``_conv_approx``)."""
        n_img, k_n = x.shape
        co = out.shape[1]
        for n in prange(n_img):
            acc = np.empty(co, w.dtype)
            if approx:
                for c in range(co):
                    acc[c] = base[c]
                for k in range(k_n):
                    v = np.int32(x[n, k]) + 128
                    if v == 0:
                        continue
                    d = delta[k, v]
                    for c in range(co):
                        acc[c] += d[c]
            else:
                for c in range(co):
                    acc[c] = 0
                for k in range(k_n):
                    xv = np.int32(x[n, k]) - zp
                    if xv == 0:
                        continue
                    wr = w[k]
                    f = w.dtype.type(xv)
                    for c in range(co):
                        acc[c] += wr[c] * f
            for c in range(co):
                v = np.int64(acc[c])
                _check(v, bias[c], err)
                out[n, c] = _lookup(v, thr[c], t0[c], slope[c], span[c], nfin[c],
                                    act_min)

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
                t0, slope, span, nfin, thr = _guess_slopes(thr, bq)
                zp = int(zp_in) + (mul.zp_offset if approx else 0)
                wk = wq.reshape(co, -1).T  # (K, C), taps in (fh, fw, ci) order
                k = wk.shape[0]
                if approx:
                    # the (K, 257, C) product rows of the numpy path
                    tab = net._tap_tables(nm, mul).astype(np.int64)
                    peak = 3 * k * mul.max_abs + abs(zp) * int(np.abs(wk).sum(axis=0).max())
                else:
                    peak = k * 256 * 128
                if peak >= 2**53:
                    raise OverflowError(f"layer {nm}: accumulator beyond 2**53")
                dt = np.float32 if peak < 2**24 else np.float64
                step = {"type": t, "w": np.ascontiguousarray(wk).astype(dt), "zp": int(zp),
                        "bias": bq, "thr": thr, "t0": t0, "slope": slope, "span": span,
                        "nfin": nfin,
                        "lo": int(lo),
                        "approx": approx, "co": co, "name": nm, "pool": (1, 1)}
                if approx:
                    step["delta"] = np.ascontiguousarray(tab - tab[:, :1, :]).astype(dt)
                else:
                    step["delta"] = np.zeros((1, 1, 1), dt)
                if t == "conv2d":
                    _, fh, fw, ci = wq.shape
                    st = tfl._pair(L.get("stride", 1), "stride")
                    oh, pt, _ = tfl.compute_padding(shape[0], fh, st[0], 1, L["padding"])
                    ow, pl, _ = tfl.compute_padding(shape[1], fw, st[1], 1, L["padding"])
                    # zero-point term and zero-input products over the in-image taps
                    _, valid = tfl.patches(np.zeros((1, *shape), np.int64), fh, fw, st,
                                           L["padding"])
                    vmat = valid.reshape(oh * ow, fh * fw).astype(np.int64)
                    corr = vmat @ wq.sum(axis=3).reshape(co, fh * fw).T
                    base = np.zeros((oh * ow, co), np.int64)
                    if approx:
                        base = vmat @ tab[:, 0, :].reshape(fh * fw, ci, co).sum(axis=1)
                        base = base - zp * corr
                    step.update(stride=st, pad=(pt, pl), kernel=(fh, fw), conv_out=(oh, ow),
                                base=np.ascontiguousarray(base).astype(dt))
                    shape = (oh, ow, co)
                else:
                    base = np.zeros(co, np.int64)
                    if approx:
                        base = tab[:, 0, :].sum(axis=0) - zp * wq.sum(axis=1)
                    step["base"] = base.astype(dt)
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
        a = np.ascontiguousarray(xq, dtype=np.int8)
        err = np.zeros(1, np.uint8)
        for s in self.steps:
            t = s["type"]
            if t == "conv2d":
                (oh, ow), (ph, pw) = s["conv_out"], s["pool"]
                out = np.empty((a.shape[0], oh // ph, ow // pw, s["co"]), np.int8)
                args = (s["stride"][0], s["stride"][1], s["pad"][0], s["pad"][1],
                        s["kernel"][0], s["kernel"][1], oh, ow, ph, pw, s["bias"], s["thr"],
                        s["t0"], s["slope"], s["span"], s["nfin"], s["lo"], out, err)
                if s["approx"]:
                    _conv_scatter(a, s["w"], s["delta"], s["base"], True, s["zp"], *args)
                else:
                    _conv_im2col(a, s["w"], s["w"].dtype.type(s["zp"]), *args)
                a = out
            elif t == "dense":
                out = np.empty((a.shape[0], s["co"]), np.int8)
                _dense(a, s["w"], s["delta"], s["base"], s["approx"], s["zp"], s["bias"],
                       s["thr"], s["t0"], s["slope"], s["span"], s["nfin"], s["lo"], out, err)
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
