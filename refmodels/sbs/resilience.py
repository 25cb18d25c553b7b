"""Error resilience of an SbS network in the golden model, and the choice of a weight format
per layer under an accuracy budget.

Everything runs on the fixed-point h datapath of the RTL (``HFixed``, coded weights), on the
compiled engine (``refmodels.sbs.fast``), with spike seeds ``seed + image index`` so every
configuration sees the same spike streams (paired comparisons). The reference is the RTL's
default build: every layer in ``base`` (E4M1), h with F = 24 fraction bits, the exact spike
generator. Three kinds of approximation are analysed, each in one layer at a time:

* **weight format** of the layer: ``e<E>m<M>`` (linear rounding) and ``log<E>`` (log-domain
  rounding); :data:`RTL_FORMATS` are the ones the layer unit implements (E 2..4, M 0..1);
* **spike generator** that draws the layer's input spikes (``rng.select_fixed``): only the top
  ``u_bits`` of the random word, and a running sum over ``H >> h_shift``;
* **precision of h**: ``HFixed(frac_bits=F)`` for the whole network (the datapath width).

Measured: the accuracy drop in percentage points against the reference on the analysis images.
Predicted (format only, no spikes): the *effect on h's fixed point* - the mean-field converged
state (``backprop.forward``: the fixed point of the expected update that the spiking network
approaches) with the layer's weights rounded to the format, the others to ``base``; three
predictors: ``mf_drop`` (mean-field accuracy drop, pp), ``mf_ce`` (increase of the mean
cross-entropy ``-log h_out(label)``) and ``mf_kl`` (mean KL divergence of the output h from the
reference's). :func:`spearman` gives their rank correlation with the measured drops.

:func:`choose` picks one format per layer at minimum cost (``costs``: LUTs of the layer unit
built with each format, one unit per layer) with the measured loss within the budget: layers
whose weights a format represents exactly (the pool layers, weights 1/K^2) take the cheapest
such format; for the others the candidates are the formats whose single-layer drop is at most
``prune`` pp; the combinations are measured in order of cost, the first within the budget is
the choice (the cheapest one among the candidates, since costs are ordered), and a few more
are measured for the Pareto front. Uniform assignments are measured for the comparison.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .formats import HFixed, parse_format
from .model import classify, run

__all__ = ["RTL_FORMATS", "SbsAnalysis", "spearman", "choose", "exact_formats"]

#: Weight formats of the layer unit RTL (``cores.sbs.update``: 2..4 exponent bits, 0..1
#: mantissa bits), most bits first.
RTL_FORMATS = ("e4m1", "e4m0", "log4", "e3m1", "e3m0", "log3", "e2m1", "log2")


def spearman(a, b) -> float:
    """Spearman's rank correlation (average ranks for ties); nan for constant input."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")

    def ranks(v):
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=np.float64)
        for val in np.unique(v):  # ties: average rank
            m = v == val
            r[m] = r[m].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def exact_formats(net, formats):
    """Per layer, the formats that represent the layer's weights exactly (as float32)."""
    out = []
    for w in net.weights:
        out.append([f for f in formats
                    if np.array_equal(parse_format(f).round_trip(w).astype(np.float32), w)])
    return out


@dataclass
class _Key:
    formats: tuple
    spike: tuple
    frac_bits: int

    def text(self):
        sp = ";".join(f"{u}/{d}" for u, d in self.spike)
        return f"{','.join(self.formats)}|{sp}|F{self.frac_bits}"


class SbsAnalysis:
    """Measured and predicted accuracy of an SbS network under approximations (see the module
    docstring). ``x``, ``y``: analysis images and labels; ``T`` spike steps; ``seed``: spike
    seed of the first image. Results are memoised by configuration (``results``: text key ->
    accuracy; give a dict to share or persist them)."""

    def __init__(self, net, x, y, T, *, seed=0, base="e4m1", batch=100, results=None):
        self.net, self.x, self.y = net, np.asarray(x), np.asarray(y)
        self.T, self.seed, self.batch = int(T), int(seed), int(batch)
        self.base = parse_format(base).name
        self.L = len(net.layers)
        self.results = {} if results is None else results
        self.base_acc = self.accuracy()
        self._mf = None

    # ------------------------------------------------------------------ measured
    def key(self, formats=None, spike=None, frac_bits=24) -> str:
        formats = tuple(parse_format(f).name for f in (formats or [self.base] * self.L))
        spike = tuple(tuple(int(v) for v in s) for s in (spike or [(32, 0)] * self.L))
        return _Key(formats, spike, int(frac_bits)).text()

    def accuracy(self, formats=None, spike=None, frac_bits=24) -> float:
        """Fraction of the analysis images classified correctly (memoised)."""
        k = self.key(formats, spike, frac_bits)
        if k not in self.results:
            fm = list(formats or [self.base] * self.L)
            hf = HFixed(frac_bits=int(frac_bits))
            hits = 0
            for b0 in range(0, len(self.x), self.batch):
                h = run(self.net, self.x[b0 : b0 + self.batch], self.T, seeds=self.seed + b0,
                        weights=fm, h=hf, spike_approx=spike)
                hits += int(np.sum(classify(h) == self.y[b0 : b0 + self.batch]))
            self.results[k] = hits / len(self.x)
        return self.results[k]

    def loss_pp(self, acc) -> float:
        return 100.0 * (self.base_acc - acc)

    def format_drop(self, layer, fmt) -> float:
        """Measured drop (pp) with layer ``layer`` in ``fmt``, the others in ``base``."""
        fm = [self.base] * self.L
        fm[layer] = fmt
        return self.loss_pp(self.accuracy(fm))

    def spike_drop(self, layer, u_bits=32, h_shift=0) -> float:
        sp = [(32, 0)] * self.L
        sp[layer] = (u_bits, h_shift)
        return self.loss_pp(self.accuracy(spike=sp))

    def h_drop(self, frac_bits) -> float:
        return self.loss_pp(self.accuracy(frac_bits=frac_bits))

    # ------------------------------------------------------------------ predicted
    def _meanfield(self, formats):
        from .backprop import _input_q, forward

        ws = [parse_format(f).round_trip(w).reshape(-1, lay.n_h).astype(np.float64)
              if lay.has_weights else None
              for lay, w, f in zip(self.net.layers, self.net.weights, formats, strict=True)]
        q0 = _input_q(self.x, self.net.topology)
        h, _ = forward(self.net.layers, ws, q0, 30, 0)
        return np.clip(h, 1e-30, None)

    def predict(self, layer, fmt) -> dict:
        """Mean-field predictors of putting ``fmt`` in ``layer`` (module docstring)."""
        if self._mf is None:
            self._mf = self._meanfield([self.base] * self.L)
        h0 = self._mf
        fm = [self.base] * self.L
        fm[layer] = fmt
        h1 = self._meanfield(fm)
        idx = np.arange(len(self.y))
        acc0 = float(np.mean(np.argmax(h0, 1) == self.y))
        acc1 = float(np.mean(np.argmax(h1, 1) == self.y))
        ce = float(np.mean(-np.log(h1[idx, self.y]) + np.log(h0[idx, self.y])))
        kl = float(np.mean(np.sum(h0 * (np.log(h0) - np.log(h1)), axis=1)))
        return {"mf_drop": 100.0 * (acc0 - acc1), "mf_ce": ce, "mf_kl": kl}


def choose(an: SbsAnalysis, costs: dict, budget_pp: float, drops: dict, *, prune=None,
           extra=6, formats=RTL_FORMATS, log=None):
    """Per-layer formats at minimum cost within the budget (module docstring).

    ``costs``: format -> LUTs of the layer unit; ``drops``: (layer, format) -> measured
    single-layer drop (pp). Returns ``(best, rows)``: the chosen row (None when no
    combination of the candidates meets the budget) and every measured row (dicts with
    ``formats``, ``cost``, ``acc``, ``loss_pp``, ``uniform``), uniform assignments included.
    """
    prune = max(2.0 * budget_pp, 100.0 / len(an.y)) if prune is None else prune
    exact = exact_formats(an.net, formats)
    cand = []
    for li in range(an.L):
        if exact[li]:
            cand.append([min(exact[li], key=lambda f: costs[f])])
        else:
            ok = [f for f in formats if f == an.base or drops.get((li, f), math.inf) <= prune]
            cand.append(sorted(ok, key=lambda f: costs[f]))
    combos = sorted(itertools.product(*cand), key=lambda c: (sum(costs[f] for f in c), c))
    rows, best = [], None

    def measure(c, uniform=False):
        acc = an.accuracy(list(c))
        r = {"formats": list(c), "cost": sum(costs[f] for f in c), "acc": acc,
             "loss_pp": an.loss_pp(acc), "uniform": uniform}
        rows.append(r)
        if log:
            log(f"[choose {len(rows)}] {'/'.join(c)}: {r['cost']} LUT, loss "
                f"{r['loss_pp']:+.2f} pp")
        return r

    after = 0
    for c in combos:
        r = measure(c)
        if best is None and r["loss_pp"] <= budget_pp + 1e-9:
            best = r
        elif best is not None:
            after += 1
        if best is not None and after >= extra:
            break
    for f in formats:
        c = tuple(f for _ in range(an.L))
        if not any(r["formats"] == list(c) for r in rows):
            measure(c, uniform=True)
        else:
            next(r for r in rows if r["formats"] == list(c))["uniform"] = True
    return best, rows
