"""Error resilience of the int8 CNNs: fault and error injection campaigns, analytic predictors
of the accuracy impact of an approximate multiplier in one layer, and their validation.

Everything runs on the bit-exact int8 golden model (:mod:`refmodels.cnn.hetero`), seeded
(``numpy.random.default_rng(seed)``), so a campaign is reproducible bit for bit.

**Fault campaigns** (:func:`fault_campaign`): one fault per trial in one compute layer, at a
*site* and with a *model*:

========== =========================================================================== =====
site       what is corrupted                                                           bits
========== =========================================================================== =====
weights    one int8 weight of the layer, for every image of the trial (permanent)        8
activations one int8 element of the layer's input tensor, per image (transient)         8
acc        one int32 accumulator of the layer's output, per image (transient)           32
products   one multiplier product ``mul(w, x)`` (raw int8 input code, as the engine     16
           multiplies), per image (transient); the error is added to its accumulator
========== =========================================================================== =====

Models: ``flip`` (bit flip), ``sa0`` / ``sa1`` (stuck at 0 / 1, which leaves the value alone
where the bit already has that value). The bit is drawn uniformly unless ``bit`` is given.
Trial ``t`` draws its fault from ``default_rng((seed, t))`` (:func:`fault_trial`), so the first
T trials of a longer campaign are the T-trial campaign and trials can be cached one by one.
Figures: accuracy and SDC rate (prediction differs from the fault-free network) per trial,
mean with a bootstrap 95 % interval over trials, and for the pooled SDC rate a Wilson 95 %
interval over trials x images (exact for transient faults, which are independent per image).

**Statistical injection** (:func:`statistical_campaign`): the layer runs exactly and each of its
products gets an error drawn independently from the unit's error distribution
``E(w, x) = mul(w, x) - w x``, weighted by the layer's operand histograms (or uniform operands).

**Predictors** (:class:`Analysis`) of the accuracy drop of unit U in layer L (every other layer
exact), from one exact int8 run and one float backward pass per image:

* error moments: for every weight value ``w`` and input channel ``i`` the mean ``mu(w, i)``
  and variance ``var(w, i)`` of ``E(w, x)`` over that channel's input-code histogram (per input
  feature for dense layers); an accumulator of output channel ``c`` then has mean
  ``sum_taps mu(w_kc, i_k)`` and variance ``sum_taps var(w_kc, i_k)`` (in-image taps, taken
  as independent);
* ``pred_drop`` (moment propagation): the accumulator error's mean and variance are carried to
  each image's logit margin ``z_y - z_o`` (``o``: the runner-up, or the predicted class for a
  misclassified image) through the network linearised at the image's int8 operating point
  (Jacobian-vector products of the float layers with the dequantised int8 weights); with the
  margin change taken as normal, ``P(correct) = Phi((m + mu) / sigma)`` and the predicted drop
  is the exact accuracy minus the mean of that probability;
* ``taylor``: first-order Taylor sensitivity of the cross-entropy loss,
  ``mean_images[(g . mu)^2 + sum g^2 var]`` with ``g`` the loss gradient at the accumulators.

:func:`validate` measures the drop of every (unit, layer) pair and reports Spearman's rank
correlation of each predictor with it.
"""

from __future__ import annotations

import math

import numpy as np

from . import hetero
from . import tflite as tfl

__all__ = [
    "SITES",
    "MODELS",
    "SITE_BITS",
    "wilson_ci",
    "bootstrap_ci",
    "apply_fault",
    "error_matrix",
    "error_distribution",
    "Analysis",
    "fault_campaign",
    "fault_trial",
    "fault_summary",
    "statistical_campaign",
    "spearman",
    "validate",
]

SITES = ("weights", "activations", "acc", "products")
MODELS = ("flip", "sa0", "sa1")
#: Predictor columns of :meth:`Analysis.predict`.
PREDICTORS = ("pred_drop", "taylor", "pred_drop_layer", "taylor_layer", "linear")
SITE_BITS = {"weights": 8, "activations": 8, "acc": 32, "products": 16}


# ------------------------------------------------------------------------------ statistics


def wilson_ci(k, n, z=1.959963984540054):
    """Wilson score interval of a binomial proportion ``k / n`` (95 % by default)."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, c - h), min(1.0, c + h))


def bootstrap_ci(values, seed=0, n_boot=2000, level=0.95):
    """Percentile bootstrap interval of the mean of ``values`` (seeded)."""
    v = np.asarray(values, np.float64)
    if v.size == 0:
        return (float("nan"), float("nan"))
    if v.size == 1 or np.all(v == v[0]):
        return (float(v[0]), float(v[0]))
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    a = (1 - level) / 2
    return (float(np.quantile(means, a)), float(np.quantile(means, 1 - a)))


def spearman(a, b):
    """Spearman's rank correlation (ties get average ranks); nan for constant input."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


# ------------------------------------------------------------------------------ faults


def apply_fault(v, bit, model, width):
    """``v`` (signed ints, two's complement of ``width`` bits) with ``bit`` flipped / stuck."""
    v = np.asarray(v, np.int64)
    bit = np.asarray(bit, np.int64)
    mask = (1 << width) - 1
    u = v & mask
    b = np.left_shift(np.int64(1), bit)
    if model == "flip":
        u = u ^ b
    elif model == "sa0":
        u = u & ~b
    elif model == "sa1":
        u = u | b
    else:
        raise ValueError(f"unknown fault model {model!r}; valid: {', '.join(MODELS)}")
    return np.where(u >= (1 << (width - 1)), u - (1 << width), u)


def _layer(net, name):
    for i, L in enumerate(net.layers):
        if L["name"] == name and L["type"] in ("conv2d", "dense"):
            return i, L
    raise ValueError(f"unknown layer {name!r}; compute layers: {hetero.compute_layers(net)}")


def _products_of(L, a, wq, mul, sel_out, sel_tap):
    """Products (as the multiplier gives them, raw int8 input code) of the chosen output
    elements (flat index per image) and taps (flat index into the layer's valid taps)."""
    n = len(a)
    if L["type"] == "dense":
        c = sel_out
        k = sel_tap
        w = wq[c, k]
        x = a.reshape(n, -1)[np.arange(n), k]
    else:
        co, fh, fw, ci = wq.shape
        cols, _ = tfl.patches(np.asarray(a, np.int64), fh, fw, L["stride"], L["padding"], 1)
        oh, ow = cols.shape[1:3]
        p, c = np.divmod(sel_out, co)
        oy, ox = np.divmod(p, ow)
        ky, rest = np.divmod(sel_tap, fw * ci)
        kx, kc = np.divmod(rest, ci)
        x = cols[np.arange(n), oy, ox, ky, kx, kc]
        w = wq[c, ky, kx, kc]
    w = np.asarray(w, np.int64)
    x = np.asarray(x, np.int64)
    if mul is None:
        return w * x
    return mul.products(w, x)


def _valid_taps(L):
    """(P, K) bool: which of the K taps of each flat output position lie inside the image
    (conv); None for dense."""
    if L["type"] == "dense":
        return None
    fh, fw = L["kernel"]
    ci = L["in_shape"][2]
    _, valid = tfl.patches(np.zeros((1, *L["in_shape"][:2], 1), np.int64), fh, fw,
                           L["stride"], L["padding"], 1)
    v = np.repeat(valid.reshape(valid.shape[0] * valid.shape[1], fh * fw), ci, axis=1)
    return v  # (P, K) bool


def _wrap_biased(acc, bias):
    """Accumulators whose biased sum wraps modulo 2^32 as the int32 hardware register does
    (a fault in a high accumulator bit may carry the sum out of range)."""
    b = np.asarray(bias, np.int64)
    return tfl._wrap32(acc + b) - b


class _FaultHook:
    def __init__(self, name, site, model, bits, rng, mul):
        self.name, self.site, self.model = name, site, model
        self.bits, self.rng, self.mul = bits, rng, mul
        self.width = SITE_BITS[site]

    def _bit(self, n):
        if self.bits is None:
            return self.rng.integers(0, self.width, size=n)
        return np.full(n, int(self.bits))

    def weights(self, L, wq):
        if L["name"] != self.name or self.site != "weights":
            return wq
        w = np.array(wq, np.int64)
        i = int(self.rng.integers(0, w.size))
        flat = w.reshape(-1)
        flat[i] = apply_fault(flat[i], self._bit(1)[0], self.model, 8)
        return np.clip(w, -128, 127)

    def input(self, L, a, b0):
        if L["name"] != self.name or self.site != "activations":
            return a
        a = np.array(a)
        n = len(a)
        flat = a.reshape(n, -1)
        j = self.rng.integers(0, flat.shape[1], size=n)
        flat[np.arange(n), j] = apply_fault(flat[np.arange(n), j], self._bit(n), self.model, 8)
        return flat.reshape(a.shape).astype(np.int8)

    def acc(self, L, acc, ctx):
        if L["name"] != self.name or self.site not in ("acc", "products"):
            return acc
        acc = np.array(acc, np.int64)
        n = len(acc)
        flat = acc.reshape(n, -1)
        j = self.rng.integers(0, flat.shape[1], size=n)
        if self.site == "acc":
            flat[np.arange(n), j] = apply_fault(flat[np.arange(n), j], self._bit(n),
                                                self.model, 32)
            return _wrap_biased(flat.reshape(acc.shape), ctx["bias"])
        wq = np.asarray(ctx["wq"], np.int64)
        if L["type"] == "dense":
            k = self.rng.integers(0, wq.shape[1], size=n)
            sel_out = j
        else:
            co = wq.shape[0]
            valid = _valid_taps(L)
            p = j // co
            k = np.empty(n, np.int64)
            for i in range(n):
                taps = np.flatnonzero(valid[p[i]])
                k[i] = taps[self.rng.integers(0, taps.size)]
            sel_out = j
        prod = _products_of(L, ctx["a"], wq, ctx["mul"], sel_out, k)
        err = apply_fault(prod, self._bit(n), self.model, 16) - prod
        flat[np.arange(n), j] += err
        return _wrap_biased(flat.reshape(acc.shape), ctx["bias"])


# ------------------------------------------------------------------------------ analysis


def error_matrix(mul):
    """``E[w + 128, x + 128] = mul(w, x) - w x`` (int64, 256 x 256); zeros for exact."""
    w = np.arange(-128, 128, dtype=np.int64)
    if mul is None:
        return np.zeros((256, 256), np.int64)
    return mul.table[:, :256].astype(np.int64) - np.outer(w, w)


def error_distribution(mul, pw=None, px=None):
    """(values, probabilities) of one product's error ``E(w, x)`` with ``w`` ~ ``pw`` and
    ``x`` ~ ``px`` independent (256-vectors over codes -128..127; default uniform)."""
    E = error_matrix(mul)
    pw = np.full(256, 1 / 256) if pw is None else np.asarray(pw, np.float64)
    px = np.full(256, 1 / 256) if px is None else np.asarray(px, np.float64)
    p = np.outer(pw, px).ravel()
    vals, inv = np.unique(E.ravel(), return_inverse=True)
    prob = np.bincount(inv, weights=p, minlength=vals.size)
    keep = prob > 0
    prob = prob[keep] / prob[keep].sum()
    return vals[keep], prob


def _hist(codes):
    h = np.bincount(np.asarray(codes, np.int64).ravel() + 128, minlength=256).astype(np.float64)
    return h / max(1.0, h.sum())


def _phi(x):
    from scipy.special import ndtr

    return ndtr(x)


class Analysis:
    """A network and an image set: the exact int8 operating point, measured and predicted
    accuracy drops of units per layer, and accuracy of any per-layer assignment.

    ``x`` float images in [0, 1], ``y`` labels. Accuracies of assignments are memoised, and the
    int8 input of every layer under each assignment prefix is kept (LRU, ``prefix_cache``
    entries), so configurations that share their first layers share that work.
    """

    def __init__(self, net, x, y, prefix_cache=48):
        self.net = net
        self.y = np.asarray(y)
        self.xq = net.quantize_input(x)
        self.layers = hetero.compute_layers(net)
        self.index = {n: _layer(net, n)[0] for n in self.layers}
        out, self.trace = hetero.forward_int8_layers(net, self.xq, None, trace=True)
        self.base_logits = out
        self.base_pred = out.argmax(axis=1)
        self.base_acc = float((self.base_pred == self.y).mean())
        self._acc = {}
        self._prefix = {}
        self._prefix_max = prefix_cache
        self._grads = None

    # -- exact int8 input of layer index li
    def layer_input(self, li):
        if li == 0:
            return self.xq
        return self.trace[self.net.layers[li - 1]["name"]]

    # -- accuracy of assignments
    def _key(self, units):
        muls = hetero.resolve_assignment(self.net, units)
        return tuple(None if m is None else m.name for m in muls), muls

    def logits(self, units):
        key, muls = self._key(units)
        # the longest exact prefix starts from the stored exact trace
        first = next((i for i, m in enumerate(muls) if m is not None), len(muls))
        if first == len(muls):
            return self.base_logits
        # longest cached prefix
        start_c, a = first, self.layer_input(self.index[self.layers[first]])
        for c in range(len(muls) - 1, first, -1):
            hit = self._prefix.get(key[:c])
            if hit is not None:
                start_c, a = c, hit
                break
        li = self.index[self.layers[start_c]]
        out, tr = hetero.forward_int8_layers(self.net, a, muls, trace=True, start=li)
        for c in range(start_c + 1, len(muls)):
            prev = self.net.layers[self.index[self.layers[c]] - 1]["name"]
            self._prefix[key[:c]] = tr[prev]
        while len(self._prefix) > self._prefix_max:
            self._prefix.pop(next(iter(self._prefix)))
        return out

    def accuracy(self, units):
        key, _ = self._key(units)
        if key not in self._acc:
            self._acc[key] = float((self.logits(units).argmax(axis=1) == self.y).mean())
        return self._acc[key]

    def single(self, unit, layer):
        """Assignment with ``unit`` in ``layer`` only."""
        return {layer: unit}

    def measured_drop(self, unit, layer):
        """Accuracy drop (fraction) with ``unit`` in ``layer`` and exact int8 elsewhere."""
        return self.base_acc - self.accuracy(self.single(unit, layer))

    # -- predictors
    def _gradients(self):
        """Per compute layer: the gradient of the logit margin ``z_y - z_o`` and of the
        cross-entropy loss with respect to the layer's int32 accumulators (float model with the
        dequantised int8 weights, evaluated layer by layer at the int8 operating point)."""
        if self._grads is not None:
            return self._grads
        from .finetune import _dequant_arrays
        from .train import softmax_ce

        net = self.net
        q = net.topology["quant"]
        deq = _dequant_arrays(net)
        s, zp = q["input"]["scale"], q["input"]["zero_point"]
        a = ((self.xq.astype(np.float32) - zp) * np.float32(s)).astype(np.float32)
        caches = []
        scales = {}
        s_in = q["input"]["scale"]
        saved = {k: net.arrays[k] for k in deq}
        net.arrays.update(deq)
        try:
            for L in net.layers:
                _, c = net.forward(a, keep=True, layers=[L])
                caches.append(c[0])
                if L["type"] in ("conv2d", "dense"):
                    ws = np.broadcast_to(net.arrays[L["name"] + ".wscale"],
                                         (L["out_shape"][-1],)).astype(np.float64)
                    scales[L["name"]] = s_in * ws
                    s_in = q[L["name"]]["scale"]
                    s, zp = q[L["name"]]["scale"], q[L["name"]]["zero_point"]
                a = ((self.trace[L["name"]].astype(np.float32) - zp) * np.float32(s))
            logits = a.astype(np.float64)
            n = len(logits)
            y = self.y
            masked = logits.copy()
            masked[np.arange(n), y] = -np.inf
            other = np.where(self.base_pred == y, masked.argmax(axis=1), self.base_pred)
            margin = logits[np.arange(n), y] - logits[np.arange(n), other]
            dm = np.zeros_like(logits, dtype=np.float32)
            dm[np.arange(n), y] = 1
            dm[np.arange(n), other] -= 1
            _, dl = softmax_ce(logits.astype(np.float32), y)
            dl = dl * n  # per-image loss gradients
            gm = self._backward(caches, dm)
            gl = self._backward(caches, dl.astype(np.float32))
        finally:
            net.arrays.update(saved)
        self._grads = {"margin": margin, "gm": {}, "gl": {}}
        for nm in self.layers:
            # d/d acc = d/d z * s_in * s_w[c]
            self._grads["gm"][nm] = gm[nm] * scales[nm]
            self._grads["gl"][nm] = gl[nm] * scales[nm]
        return self._grads

    def _backward(self, caches, dout):
        """Gradient of ``sum(dout * logits)`` w.r.t. each compute layer's pre-activation."""
        out = {}
        self.net.backward(dout, caches, deltas=out, params=False)
        return out

    def acc_moments(self, unit, layer):
        """(mean, variance) of the accumulator error of ``unit`` in ``layer`` per output
        position and channel, shape (P, C) (P = 1 for dense), from the layer's weights and the
        input-code histogram of each input channel (conv) or input feature (dense), taps
        taken as independent."""
        li, L = _layer(self.net, layer)
        mul = hetero.mul_of(unit)
        E = error_matrix(mul).astype(np.float64)
        a = np.asarray(self.layer_input(li), np.int64)
        ch = a.shape[-1]
        flat = a.reshape(-1, ch) + 128
        px = np.zeros((ch, 256))
        for c in range(ch):
            px[c] = np.bincount(flat[:, c], minlength=256)
        px /= px.sum(axis=1, keepdims=True)
        mu_wc = E @ px.T  # (256 w, ch)
        var_wc = np.empty_like(mu_wc)
        for c in range(ch):  # centred sums: an error independent of x has exactly no variance
            var_wc[:, c] = ((E - mu_wc[:, c : c + 1]) ** 2) @ px[c]
        wq = self.net.arrays[layer + ".wq"].astype(np.int64)
        if L["type"] == "dense":
            k = np.arange(wq.shape[1])
            return (mu_wc[wq + 128, k].sum(axis=1)[None, :],
                    var_wc[wq + 128, k].sum(axis=1)[None, :])
        co, fh, fw, ci = wq.shape
        kc = np.arange(ci)
        tap_mu = mu_wc[wq + 128, kc].sum(axis=3).reshape(co, fh * fw).T  # (taps, C)
        tap_var = var_wc[wq + 128, kc].sum(axis=3).reshape(co, fh * fw).T
        _, valid = tfl.patches(np.zeros((1, *L["in_shape"][:2], 1), np.int64), fh, fw,
                               L["stride"], L["padding"], 1)
        v = valid.reshape(-1, fh * fw).astype(np.float64)
        return v @ tap_mu, v @ tap_var

    def acc_error(self, unit, layer):
        """Accumulator error of ``unit`` in ``layer`` on the layer's exact int8 input,
        (N, P, C) (one layer emulated)."""
        li, L = _layer(self.net, layer)
        a = self.layer_input(li)
        s_in, zp = hetero._in_params(self.net)[li]
        mul = hetero.mul_of(unit)
        e = (hetero.layer_acc(self.net, L, a, s_in, zp, mul)
             - hetero.layer_acc(self.net, L, a, s_in, zp, None))
        return e.reshape(len(a), -1, e.shape[-1]).astype(np.float64)

    def _p_correct(self, m_mu, m_var):
        """Predicted drop: exact accuracy minus the mean probability that the margin stays
        positive, the margin change being normal (mean ``m_mu``, variance ``m_var``); a change
        within rounding of zero leaves an image as it is (ties in the int8 logits included)."""
        margin = self._gradients()["margin"]
        correct = self.base_pred == self.y
        new = margin + m_mu
        tol = 1e-9 * (1.0 + np.abs(margin))
        sd = np.sqrt(m_var)
        det = np.where(np.abs(new) <= tol, correct, new > 0).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(sd > tol, _phi(new / np.where(sd > tol, sd, 1.0)), det)
        return float(correct.mean() - p.mean())

    def predict(self, unit, layer, layer_error=True):
        """Predicted accuracy drop and sensitivities of ``unit`` in ``layer`` (module doc):
        ``pred_drop`` and ``taylor`` from the operand-histogram error moments; with
        ``layer_error`` also ``pred_drop_layer`` / ``taylor_layer`` from the moments of the
        layer's emulated accumulator error (one layer run with the unit, exact elsewhere:
        per-channel mean and variance over images and positions) and ``linear``, the drop of
        the first-order model ``margin + grad . error`` with that error image by image."""
        g = self._gradients()
        mu, var = self.acc_moments(unit, layer)
        out = self._predict_moments(g, layer, mu, var)
        if layer_error:
            e = self.acc_error(unit, layer)
            emu = e.mean(axis=(0, 1))
            evar = e.var(axis=(0, 1))
            P = mu.shape[0]
            lay = self._predict_moments(g, layer, np.broadcast_to(emu, (P, len(emu))),
                                        np.broadcast_to(evar, (P, len(evar))))
            out["pred_drop_layer"] = lay["pred_drop"]
            out["taylor_layer"] = lay["taylor"]
            gm = g["gm"][layer].reshape(e.shape)
            delta = (gm * e).sum(axis=(1, 2))
            out["linear"] = self._p_correct(delta, np.zeros_like(delta))
        return out

    def _predict_moments(self, g, layer, mu, var):
        gm, gl = g["gm"][layer], g["gl"][layer]
        gm = gm.reshape(len(gm), *mu.shape)
        gl = gl.reshape(len(gl), *mu.shape)
        m_mu = (gm * mu[None]).sum(axis=(1, 2))
        m_var = (gm * gm * var[None]).sum(axis=(1, 2))
        drop = self._p_correct(m_mu, m_var)
        l_mu = (gl * mu[None]).sum(axis=(1, 2))
        l_var = (gl * gl * var[None]).sum(axis=(1, 2))
        return {"pred_drop": drop, "taylor": float(np.mean(l_mu**2 + l_var))}


# ------------------------------------------------------------------------------ campaigns


def _check_fault(site, model, bit):
    if site not in SITES:
        raise ValueError(f"unknown site {site!r}; valid: {', '.join(SITES)}")
    if model not in MODELS:
        raise ValueError(f"unknown fault model {model!r}; valid: {', '.join(MODELS)}")
    if bit is not None and not 0 <= int(bit) < SITE_BITS[site]:
        raise ValueError(f"bit {bit} outside 0..{SITE_BITS[site] - 1} for {site}")


def fault_trial(analysis, layer, site, model="flip", trial=0, seed=0, bit=None, unit=None):
    """One trial of a fault campaign (see :func:`fault_campaign`): ``(accuracy, SDC rate)``.

    The trial's fault is drawn from ``numpy.random.default_rng((seed, trial))``: a trial's
    result does not depend on how many trials its campaign has, so a campaign extended from
    T to T' trials reuses the first T (``approxnn explore`` caches each trial)."""
    _check_fault(site, model, bit)
    if int(trial) < 0 or int(seed) < 0:
        raise ValueError(f"trial and seed must be non-negative, got {trial}, {seed}")
    an = analysis
    li, _ = _layer(an.net, layer)
    units = {layer: unit}
    ref = an.logits(units).argmax(axis=1)
    rng = np.random.default_rng((int(seed), int(trial)))
    hook = _FaultHook(layer, site, model, bit, rng, hetero.mul_of(unit))
    out = hetero.forward_int8_layers(an.net, an.layer_input(li), units, start=li, hooks=hook)
    pred = out.argmax(axis=1)
    return float((pred == an.y).mean()), float((pred != ref).mean())


def fault_summary(analysis, layer, site, model, per_trial, seed=0, bit=None, unit=None):
    """The figures of a campaign from its trials' ``(accuracy, SDC rate)`` pairs."""
    accs = [float(t[0]) for t in per_trial]
    sdcs = [float(t[1]) for t in per_trial]
    trials = len(per_trial)
    n_img = len(analysis.y)
    k = int(round(sum(sdcs) * n_img))
    return {"layer": layer, "site": site, "model": model, "bit": "random" if bit is None else
            int(bit), "unit": unit or "exact", "seed": seed, "trials": trials,
            "images": n_img, "acc": float(np.mean(accs)),
            "acc_ci": bootstrap_ci(accs, seed), "base_acc": analysis.base_acc,
            "sdc": float(np.mean(sdcs)), "sdc_ci": bootstrap_ci(sdcs, seed),
            "sdc_wilson": wilson_ci(k, n_img * trials)}


def fault_campaign(net, x, y, layer, site, model="flip", trials=20, seed=0, bit=None,
                   unit=None, analysis=None):
    """Inject one fault per trial (see the module doc) in ``layer``; every other layer exact,
    ``unit`` (default exact) in ``layer``. Returns a dict of figures. Trial ``t`` is
    :func:`fault_trial` ``(..., t, seed)``: the first T trials of a longer campaign are the
    T-trial campaign."""
    _check_fault(site, model, bit)
    an = analysis or Analysis(net, x, y)
    per = [fault_trial(an, layer, site, model, t, seed, bit, unit) for t in range(int(trials))]
    return fault_summary(an, layer, site, model, per, seed, bit, unit)


class _StatHook:
    def __init__(self, name, vals, prob, valid, rng):
        self.name, self.vals, self.cdf = name, vals, np.cumsum(prob)
        self.valid, self.rng = valid, rng

    def acc(self, L, acc, ctx):
        if L["name"] != self.name:
            return acc
        acc = np.array(acc, np.int64)
        n = len(acc)
        co = acc.shape[-1]
        if self.valid is None:
            k = L["in_shape"][0]
            draw = self._draw((n, 1, co, k))
            err = draw.sum(axis=-1).reshape(acc.shape)
        else:
            P, K = self.valid.shape
            err = np.zeros((n, P, co), np.int64)
            for p0 in range(0, P, 8):
                v = self.valid[p0 : p0 + 8]
                d = self._draw((n, len(v), co, K))
                err[:, p0 : p0 + 8] = (d * v[None, :, None, :]).sum(axis=-1)
            err = err.reshape(acc.shape)
        return acc + err

    def _draw(self, shape):
        u = self.rng.random(shape)
        idx = np.minimum(np.searchsorted(self.cdf, u, side="right"), len(self.vals) - 1)
        return self.vals[idx]


def statistical_campaign(net, x, y, layer, unit, trials=5, seed=0, operands="layer",
                         analysis=None):
    """Exact network; every product of ``layer`` gets an independent error drawn from
    ``unit``'s error distribution (``operands="layer"``: weighted by the layer's weight and
    input-code histograms; ``"uniform"``: all operand pairs alike)."""
    if operands not in ("layer", "uniform"):
        raise ValueError(f"operands must be 'layer' or 'uniform', got {operands!r}")
    an = analysis or Analysis(net, x, y)
    li, L = _layer(net, layer)
    mul = hetero.mul_of(unit)
    if operands == "layer":
        pw = _hist(net.arrays[layer + ".wq"])
        px = _hist(an.layer_input(li))
        vals, prob = error_distribution(mul, pw, px)
    else:
        vals, prob = error_distribution(mul)
    rng = np.random.default_rng(seed)
    valid = _valid_taps(L)
    accs = []
    a_in = an.layer_input(li)
    for _ in range(int(trials)):
        hook = _StatHook(layer, vals, prob, valid, rng)
        out = hetero.forward_int8_layers(net, a_in, None, start=li, hooks=hook, batch=64)
        accs.append(float((out.argmax(axis=1) == an.y).mean()))
    return {"layer": layer, "unit": str(unit), "operands": operands, "seed": seed,
            "trials": int(trials), "images": len(an.y), "acc": float(np.mean(accs)),
            "acc_ci": bootstrap_ci(accs, seed), "base_acc": an.base_acc,
            "drop": an.base_acc - float(np.mean(accs)),
            "err_mean": float((vals * prob).sum()),
            "err_std": float(np.sqrt(max(0.0, (vals**2 * prob).sum()
                                         - (vals * prob).sum() ** 2)))}


def validate(analysis, units, layers=None, stream=None):
    """Measured and predicted drop of every (unit, layer) pair, and Spearman's correlation of
    each predictor with the measured drop. Returns ``(rows, {"pred_drop": r, "taylor": r})``."""
    layers = layers or analysis.layers
    rows = []
    for u in units:
        for layer in layers:
            r = {"unit": str(u), "layer": layer,
                 "measured_drop": analysis.measured_drop(u, layer)}
            r |= analysis.predict(u, layer)
            rows.append(r)
            if stream is not None:
                stream.write(f"  {layer:>6} {u}: measured {100 * r['measured_drop']:+.2f} pp, "
                             f"predicted {100 * r['pred_drop']:+.2f} pp\n")
                stream.flush()
    meas = [r["measured_drop"] for r in rows]
    rho = {k: spearman(meas, [r[k] for r in rows]) for k in PREDICTORS if k in rows[0]}
    return rows, rho
