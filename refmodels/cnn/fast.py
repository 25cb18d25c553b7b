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


def output_stage(kind: str, single_rounding: bool):
    """The numpy output stage the reference path applies to a layer of type ``kind``:
    ``f(acc, bias, multiplier, shift, output_zero_point, act_min, act_max) -> int8``.

    The one place that names the shared helper for each layer type (conv2d and dense both use
    ``tflite.requantize`` with the network's rounding variant).
    """
    if kind not in ("conv2d", "dense"):
        raise ValueError(f"no output stage for layer type {kind!r}")

    def f(acc, bias, multiplier, shift, out_zp, act_min, act_max):
        return tfl.requantize(acc, bias, multiplier, shift, out_zp, act_min, act_max,
                              single_rounding)

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


LANES = 16  # output channels are padded to a multiple (one 512-bit vector of int32)


def _pad_channels(a, axis=-1):
    n = a.shape[axis]
    cp = -(-n // LANES) * LANES
    pad = [(0, 0)] * a.ndim
    pad[axis] = (0, cp - n)
    return np.ascontiguousarray(np.pad(a, pad))


def _guess_slopes(thr):
    """Per channel: first threshold and levels per accumulator unit over the reachable ones
    (a starting guess for the lookup; the lookup then steps to the exact position)."""
    c_n, levels = thr.shape
    t0 = np.zeros(c_n, np.float64)
    slope = np.zeros(c_n, np.float64)
    for c in range(c_n):
        fin = thr[c][thr[c] < 2**32]
        if len(fin) >= 2 and fin[-1] > fin[0]:
            t0[c] = fin[0]
            slope[c] = (len(fin) - 1) / float(fin[-1] - fin[0])
        elif len(fin):
            t0[c] = fin[0]
    return t0, slope


if HAVE_NUMBA:

    @njit(cache=True, inline="always")
    def _emit(acc, bias, thr, t0, slope, act_min, out_row, err):
        """out = act_min + #{j : thr[c, j] <= acc} (thresholds sorted, exact)."""
        levels = thr.shape[1]
        for c in range(out_row.shape[0]):
            a = np.int64(acc[c])
            b = a + bias[c]
            if b < _I32_MIN or b > _I32_MAX:
                err[0] = 1
            t = thr[c]
            if levels == 0 or a < t[0]:
                out_row[c] = act_min
                continue
            if a >= t[levels - 1]:
                out_row[c] = act_min + levels
                continue
            # t[0] <= a < t[levels-1]: find j with t[j] <= a < t[j+1]
            j = np.int64((a - t0[c]) * slope[c])
            if j < 0:
                j = 0
            if j > levels - 2:
                j = levels - 2
            while t[j] > a:
                j -= 1
            while t[j + 1] <= a:
                j += 1
            out_row[c] = act_min + j + 1

    @njit(cache=True, parallel=True)
    def _conv(x, w, tab, wsum, approx, zp, sh, sw, pt, pl, bias, thr, t0, slope, act_min,
              out, err):
        """Conv2D over in-image taps, channels padded to LANES. Exact: ``w[ky, kx, i, c]
        (x - zp)``; approximate: ``tab[(ky*fw + kx)*ci + i, x + 128, c] - zp wsum[ky, kx, c]``."""
        n_img, h, wd, ci = x.shape
        _, oh, ow, _ = out.shape
        fh, fw, cp = wsum.shape
        for n in prange(n_img):
            acc = np.empty(cp, np.int32)
            for oy in range(oh):
                for ox in range(ow):
                    acc[:] = 0
                    for ky in range(fh):
                        iy = oy * sh - pt + ky
                        if iy < 0 or iy >= h:
                            continue
                        for kx in range(fw):
                            ix = ox * sw - pl + kx
                            if ix < 0 or ix >= wd:
                                continue
                            if approx:
                                base = (ky * fw + kx) * ci
                                for i in range(ci):
                                    row = tab[base + i, np.int32(x[n, iy, ix, i]) + 128]
                                    for c0 in range(0, cp, LANES):
                                        for c in range(LANES):
                                            acc[c0 + c] += row[c0 + c]
                                ws = wsum[ky, kx]
                                for c0 in range(0, cp, LANES):
                                    for c in range(LANES):
                                        acc[c0 + c] -= zp * ws[c0 + c]
                            else:
                                for i in range(ci):
                                    xv = np.int32(x[n, iy, ix, i]) - zp
                                    wr = w[ky, kx, i]
                                    for c0 in range(0, cp, LANES):
                                        for c in range(LANES):
                                            acc[c0 + c] += wr[c0 + c] * xv
                    _emit(acc, bias, thr, t0, slope, act_min, out[n, oy, ox], err)

    @njit(cache=True, parallel=True)
    def _dense(x, w, tab, wsum, approx, zp, bias, thr, t0, slope, act_min, out, err):
        """FullyConnected, channels padded to LANES: exact ``w[k, c] (x - zp)``; approximate
        ``tab[k, x + 128, c]`` minus ``zp wsum[c]``."""
        n_img, k_n = x.shape
        cp = wsum.shape[0]
        for n in prange(n_img):
            acc = np.zeros(cp, np.int32)
            if approx:
                for k in range(k_n):
                    row = tab[k, np.int32(x[n, k]) + 128]
                    for c0 in range(0, cp, LANES):
                        for c in range(LANES):
                            acc[c0 + c] += row[c0 + c]
                for c0 in range(0, cp, LANES):
                    for c in range(LANES):
                        acc[c0 + c] -= zp * wsum[c0 + c]
            else:
                for k in range(k_n):
                    xv = np.int32(x[n, k]) - zp
                    wr = w[k]
                    for c0 in range(0, cp, LANES):
                        for c in range(LANES):
                            acc[c0 + c] += wr[c0 + c] * xv
            _emit(acc, bias, thr, t0, slope, act_min, out[n], err)

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
    """The compiled form of a quantised network for one multiplier and rounding variant."""

    def __init__(self, net, mul=None, single_rounding=False):
        if not HAVE_NUMBA:
            raise RuntimeError("the fast int8 path needs numba")
        self.steps = []
        qin = net.topology["quant"]["input"]
        s_in, zp_in = qin["scale"], qin["zero_point"]
        shape = tuple(net.topology["input"])
        approx = mul is not None
        for L in net.layers:
            t, nm = L["type"], L["name"] if "name" in L else L["type"]
            if t in ("conv2d", "dense"):
                m, sh, qo, lo, hi = net._qparams(L, s_in)
                wq = net.arrays[nm + ".wq"].astype(np.int64)
                bq = net.arrays[nm + ".bq"].astype(np.int64)
                co = wq.shape[0]
                thr = output_thresholds(output_stage(t, single_rounding), bq, m, sh,
                                        qo["zero_point"], lo, hi, co)
                zp = int(zp_in) + (mul.zp_offset if approx else 0)
                if t == "conv2d":
                    _, fh, fw, ci = wq.shape
                    k = fh * fw * ci
                    w = np.ascontiguousarray(wq.transpose(1, 2, 3, 0)).astype(np.int32)
                    wsum = np.ascontiguousarray(wq.sum(axis=3).transpose(1, 2, 0))
                else:
                    k = wq.shape[1]
                    w = np.ascontiguousarray(wq.T).astype(np.int32)
                    wsum = wq.sum(axis=1)
                if approx:
                    # (K, 257, C) int32 product rows of the numpy path, channels padded
                    tab = _pad_channels(net._tap_tables(nm, mul))
                    peak = k * mul.max_abs + abs(zp) * int(np.abs(wq).sum(axis=tuple(
                        range(1, wq.ndim))).max())
                else:
                    tab = np.zeros((1, 1, 1), np.int32)
                    peak = k * 256 * 128
                if peak >= 2**31:
                    raise OverflowError(f"layer {nm}: accumulator may exceed int32")
                t0, slope = _guess_slopes(thr)
                step = {"type": t, "w": _pad_channels(w), "tab": tab,
                        "wsum": _pad_channels(wsum.astype(np.int32)), "zp": np.int32(zp),
                        "bias": bq, "thr": thr, "t0": t0, "slope": slope, "lo": int(lo),
                        "approx": approx, "co": co, "name": nm}
                if t == "conv2d":
                    st = tfl._pair(L.get("stride", 1), "stride")
                    oh, pt, _ = tfl.compute_padding(shape[0], fh, st[0], 1, L["padding"])
                    ow, pl, _ = tfl.compute_padding(shape[1], fw, st[1], 1, L["padding"])
                    step.update(stride=st, pad=(pt, pl), out=(oh, ow, co))
                    shape = (oh, ow, co)
                else:
                    shape = (co,)
                s_in, zp_in = qo["scale"], qo["zero_point"]
            elif t == "maxpool":
                ph, pw = L["pool"]
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
                out = np.empty((a.shape[0], *s["out"]), np.int8)
                _conv(a, s["w"], s["tab"], s["wsum"], s["approx"], s["zp"], s["stride"][0],
                      s["stride"][1], s["pad"][0], s["pad"][1], s["bias"], s["thr"], s["t0"],
                      s["slope"], s["lo"], out, err)
                a = out
            elif t == "dense":
                out = np.empty((a.shape[0], s["co"]), np.int8)
                _dense(a, s["w"], s["tab"], s["wsum"], s["approx"], s["zp"], s["bias"],
                       s["thr"], s["t0"], s["slope"], s["lo"], out, err)
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
