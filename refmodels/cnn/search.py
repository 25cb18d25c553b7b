"""Choice of one multiplier per layer: multi-objective search (pymoo NSGA-II) over the
assignments of a unit library to the compute layers, minimising hardware cost and accuracy loss.

Costs of an assignment (``luts``: LUTs of each unit, e.g. from Yosys):

* ``lut_mac``: MAC-weighted multiplier LUTs, ``sum_L share_L * LUT(U_L)`` with ``share_L`` the
  layer's fraction of the network's multiply-accumulates (the LUTs of a time-shared multiplier,
  weighted by how long each layer keeps it busy); the search objective;
* ``engine_luts``: LUTs of one multiplier of each distinct unit the assignment uses (an engine
  whose MAC lane holds every unit needed, selected per layer), per lane;
* ``energy_proxy``: **a relative proxy, not a power figure**: ``sum_L MACs_L * E(U_L, L)``
  divided by the same sum with the exact multiplier in every layer. With ``energy`` given
  (``{unit: {layer: E}}``, e.g. fanout-weighted toggles per product of the unit's netlist on
  the layer's operands, :mod:`approxnn.energy`), ``E`` is that switching-activity figure and
  the search minimises it as a third objective; without it ``E(U, L) = LUT(U)`` (no switching
  activity), so the proxy is ``lut_mac / LUT(exact)`` and orders assignments as ``lut_mac``.

The accuracy objective is the loss in percentage points against exact int8 on the analysis
images (:class:`refmodels.cnn.resilience.Analysis`, memoised). The initial population is seeded
with the exact and the uniform assignments and with per-layer choices from the predictors: for a
range of thresholds, each layer takes its cheapest unit whose predicted drop stays under the
threshold.
"""

from __future__ import annotations

import time

import numpy as np

from . import hetero

__all__ = ["Costs", "predictor_seeds", "nsga_search", "pareto_indices", "best_under_budget"]


class Costs:
    """Cost model of assignments over ``units`` (canonical names) for ``net``."""

    def __init__(self, net, units, luts, exact_unit="exact:width=8,signed=1", energy=None):
        self.units = list(units)
        missing = [u for u in self.units + [exact_unit] if u not in luts]
        if missing:
            raise ValueError(f"no LUT figure for {', '.join(missing)}")
        self.luts = np.array([float(luts[u]) for u in self.units])
        self.exact_luts = float(luts[exact_unit])
        macs = hetero.layer_macs(net)
        self.layers = hetero.compute_layers(net)
        self.macs = np.array([macs[n] for n in self.layers], np.float64)
        self.share = self.macs / self.macs.sum()
        self.has_energy = energy is not None
        if energy is not None:
            missing = [u for u in self.units + [exact_unit] if u not in energy
                       or any(k not in energy[u] for k in self.layers)]
            if missing:
                raise ValueError(f"no energy figure for {', '.join(missing)}")
            # (units, layers): MACs x E(U, L), normalised by the all-exact sum
            e = np.array([[energy[u][k] for k in self.layers] for u in self.units], np.float64)
            ex = np.array([energy[exact_unit][k] for k in self.layers], np.float64)
            self._emac = e * self.macs[None] / float((ex * self.macs).sum())

    def lut_mac(self, idx):
        return float((self.share * self.luts[np.asarray(idx)]).sum())

    def engine_luts(self, idx):
        return float(self.luts[np.unique(np.asarray(idx))].sum())

    def energy_proxy(self, idx):
        if not self.has_energy:
            return self.lut_mac(idx) / self.exact_luts
        idx = np.asarray(idx)
        return float(self._emac[idx, np.arange(len(self.layers))].sum())

    def names(self, idx):
        return [self.units[int(i)] for i in idx]


def pareto_indices(points):
    """Indices of the non-dominated points when minimising both coordinates, sorted by the
    first; of identical points only the first is kept."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    out, best = [], float("inf")
    for i in order:
        if points[i][1] < best:
            out.append(i)
            best = points[i][1]
    return out


def best_under_budget(rows, budget_pp, cost="lut_mac", upper=None):
    """The cheapest row whose ``loss_pp`` is at most ``budget_pp`` (None if none). With
    ``upper`` (a function row -> upper bound of its loss, pp) the bound must meet the budget
    too; rows are tried from the cheapest, so ``upper`` runs only as far as needed."""
    ok = sorted((r for r in rows if r["loss_pp"] <= budget_pp + 1e-9),
                key=lambda r: (r[cost], r["loss_pp"]))
    for r in ok:
        if upper is None or upper(r) <= budget_pp + 1e-9:
            return r
    return None


def predictor_seeds(costs, pred, budget_pp, n_layers):
    """Index vectors: for thresholds around ``budget_pp / n_layers``, each layer's cheapest
    unit whose predicted drop (``pred[(unit, layer)]``, pp) is at most the threshold."""
    out = []
    base = max(budget_pp, 0.05) / max(1, n_layers)
    for f in (0.25, 0.5, 1, 2, 4, 8, 16, 64):
        th = base * f
        idx = []
        for layer in costs.layers:
            ok = [i for i, u in enumerate(costs.units) if pred.get((u, layer), np.inf) <= th]
            if not ok:
                ok = [int(np.argmin([pred.get((u, layer), np.inf) for u in costs.units]))]
            idx.append(min(ok, key=lambda i: costs.luts[i]))
        if idx not in out:
            out.append(idx)
    return out


def nsga_search(analysis, costs, *, pop=24, generations=10, seed=0, initial=(), stream=None):
    """NSGA-II over one unit index per layer; objectives ``lut_mac`` and the accuracy loss in pp
    (and ``energy_proxy`` when ``costs`` has switching-activity figures).

    Returns every evaluated assignment as rows (dicts with ``units``, ``lut_mac``,
    ``engine_luts``, ``energy_proxy``, ``acc``, ``loss_pp``), in evaluation order.
    """
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.callback import Callback
    from pymoo.core.problem import ElementwiseProblem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.optimize import minimize

    n_var, n_units = len(costs.layers), len(costs.units)
    rows, seen = [], {}

    def evaluate(idx):
        key = tuple(int(i) for i in idx)
        if key not in seen:
            names = costs.names(key)
            acc = analysis.accuracy(names)
            seen[key] = len(rows)
            rows.append({"units": names, "lut_mac": costs.lut_mac(key),
                         "engine_luts": costs.engine_luts(key),
                         "energy_proxy": costs.energy_proxy(key), "acc": acc,
                         "loss_pp": 100.0 * (analysis.base_acc - acc)})
        r = rows[seen[key]]
        if costs.has_energy:
            return r["lut_mac"], r["loss_pp"], r["energy_proxy"]
        return r["lut_mac"], r["loss_pp"]

    class Problem(ElementwiseProblem):
        def __init__(self):
            super().__init__(n_var=n_var, n_obj=3 if costs.has_energy else 2, xl=0,
                             xu=n_units - 1, vtype=int)

        def _evaluate(self, x, out, *args, **kwargs):
            out["F"] = list(evaluate(np.rint(x).astype(int)))

    rng = np.random.default_rng(seed)
    init = [list(map(int, s)) for s in initial]
    init = [s for i, s in enumerate(init) if s not in init[:i]][:pop]
    while len(init) < pop:
        init.append(list(rng.integers(0, n_units, size=n_var)))
    t0 = time.perf_counter()

    class Progress(Callback):
        def notify(self, algorithm):
            if stream is None:
                return
            F = algorithm.opt.get("F")
            el = time.perf_counter() - t0
            g = algorithm.n_gen
            eta = el / g * (generations - g) if g else 0.0
            stream.write(f"[gen {g}/{generations}] evaluated {len(rows)} assignments, front "
                         f"{len(F)}  elapsed {el:5.0f}s  eta {eta:5.0f}s\n")
            stream.flush()

    algo = NSGA2(pop_size=pop, sampling=np.array(init, dtype=float),
                 crossover=SBX(prob=0.9, eta=3.0, vtype=float, repair=RoundingRepair()),
                 mutation=PM(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
                 eliminate_duplicates=True)
    minimize(Problem(), algo, ("n_gen", int(generations)), seed=int(seed), verbose=False,
             callback=Progress())
    return rows
