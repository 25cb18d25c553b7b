"""Regression: every core x simulator x seed, in parallel.

    python -m verif.regress                      # smoke: arithmetic width 8, both signs, 1 seed;
                                                 #   SbS update unit (2 configurations); CNN
                                                 #   blocks and the layer engine (int8, HF6):
                                                 #   the tests of the V1 testpoints only
    python -m verif.regress --tier nightly       # + arithmetic widths 4/12/16 random, 5 seeds;
                                                 #   SbS update unit P = 1/2/4/8 x E4M1/log4,
                                                 #   MNIST images through the layer unit; CNN
                                                 #   engine P = 1..16, approximate units, HF6,
                                                 #   on every simulator, 20 digits images;
                                                 #   20 MNIST images (int8, HF6); the FuseSoC
                                                 #   generator in a throwaway project (engine
                                                 #   P = 8 DRUM: lint, sim on both, synth);
                                                 #   then every mutant of verif.mutate
    python -m verif.regress --seeds 3 --sims icarus --jobs 2 --out build/regress

Each job runs one pyuvm test on one configuration. The tests a tier runs come from the
testplans' stages (verif/common/testplan.py: smoke the V1 testpoints, nightly every stage); a
job whose test belongs to no testpoint of the tier is left out. The run writes ``junit.xml``
(one testcase per job), ``coverage.json`` and ``coverage.md`` (the functional coverage of all
jobs merged), ``coverage_testpoints.md`` (the merged coverage per testpoint of the tier) and
``summary.md`` in the output folder, and exits 1 when any job fails. The nightly tier then
runs the mutation catalogue (:mod:`verif.mutate`, report in ``mutate/mutants.md``, appended to
``summary.md``) and also exits 1 when its score by comparison is below 95 % or a mutant is
only timed out (``--no-mutate`` skips it; the committed report of a full run:
``verif/mutation/report.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from types import SimpleNamespace

from approxnn.eda.sim import REPO_ROOT, SIMULATORS, simulator_available

from cores.cnn.generate import MNIST_ENGINE
from cores.sbs.generate import LAYER_CONFIGS
from verif.common import testplan

#: CNN blocks (verif/cnn harness): (block, parameters, count of random items)
CNN_SMOKE = [("requant", {}, 5000), ("mac", {"lanes": 8, "mul": "int8"}, 200),
             ("pool", {}, 300), ("hf6mac", {"lanes": 4}, 200),
             ("engine", {"lanes": 4, "mul": "int8"}, 0), ("engine", {"lanes": 4, "mul": "hf6"}, 0)]
CNN_NIGHTLY = CNN_SMOKE + [
    ("mac", {"lanes": 3, "mul": "drum:k=4,signed=1"}, 300),
    ("engine", {"lanes": 1, "mul": "int8"}, 0), ("engine", {"lanes": 8, "mul": "int8"}, 0),
    ("engine", {"lanes": 16, "mul": "int8", "cmax": 32}, 0),
    ("engine", {"lanes": 8, "mul": "drum:k=4,signed=1"}, 0),
    ("engine", {"lanes": 2, "mul": "mitchell:signed=0", "cmax": 8}, 0),
    ("engine", {"lanes": 1, "mul": "hf6", "cmax": 8}, 0), ("engine", {"lanes": 8, "mul": "hf6"}, 0),
]
#: the MNIST LeNet through the engine (buffers for its layers), nightly: int8 and HF6
CNN_MNIST = [{**MNIST_ENGINE, "mul": m} for m in ("int8", "hf6")]

TIERS = {
    "smoke": {"widths": [8], "random_widths": [], "seeds": 1,
              "sbs_update": [(2, 32, "log4"), (4, 64, "e4m1")], "sbs_layer_T": 4,
              "cnn": CNN_SMOKE, "cnn_sims": 1, "cnn_images": 1, "cnn_mnist": []},
    "nightly": {"widths": [8], "random_widths": [4, 12, 16], "seeds": 5,
                "sbs_update": [(p, 64, w) for p in (1, 2, 4, 8) for w in ("e4m1", "log4")],
                "sbs_layer_T": 16, "sbs_mnist_T": 20, "sbs_published_T": 1,
                "cnn": CNN_NIGHTLY, "cnn_sims": None, "cnn_images": 20,
                "cnn_mnist": CNN_MNIST, "mutate": True, "fusesoc_project": True,
                # long stress / reset campaigns: resets per engine test run, and per SbS
                # update configuration a reset run and a random run under the mixed pattern
                "resets": 12, "sbs_stress": True},
}


def plan(tier: str, sims: list[str], seeds: int | None) -> list[dict]:
    from refmodels.arith import list_units  # noqa: PLC0415

    cfg = TIERS[tier]
    n_seeds = seeds or cfg["seeds"]
    jobs = []
    for unit in (u.name for u in list_units() if u.builtin):
        for signed in (0, 1):
            for sim in sims:
                for w in cfg["widths"]:
                    # the exhaustive test does not depend on the seed except for order
                    jobs.append(dict(unit=f"{unit}:width={w},signed={signed}", sim=sim,
                                     test="ArithExhaustiveTest", seed=1))
                for w in cfg["random_widths"]:
                    for seed in range(1, n_seeds + 1):
                        jobs.append(dict(unit=f"{unit}:width={w},signed={signed}", sim=sim,
                                         test="ArithRandomTest", seed=seed))
    for p, n_max, weights in cfg["sbs_update"]:
        for sim in sims:
            for seed in range(1, n_seeds + 1):
                jobs.append(dict(unit=f"sbs_update:{weights},p={p},n_max={n_max}", sim=sim,
                                 test="UpdateRandomTest", seed=seed, block="sbs_update",
                                 config=(p, n_max, weights)))
            if cfg.get("sbs_stress"):
                jobs.append(dict(unit=f"sbs_update:{weights},p={p},n_max={n_max},resets",
                                 sim=sim, test="reset_during_traffic", seed=1,
                                 block="sbs_update", config=(p, n_max, weights),
                                 env={"APPROXNN_RESETS": cfg["resets"]}))
                jobs.append(dict(unit=f"sbs_update:{weights},p={p},n_max={n_max},mixed",
                                 sim=sim, test="UpdateRandomTest", seed=1,
                                 block="sbs_update", config=(p, n_max, weights),
                                 env={"APPROXNN_STRESS": "mixed"}))
    for weights in ("e4m1", "log4"):
        jobs.append(dict(unit=f"sbs_layer:{weights},digits,T={cfg['sbs_layer_T']}",
                         sim=sims[0], test="network_end_to_end", seed=1, block="sbs_layer",
                         config=(weights, cfg["sbs_layer_T"], "digits")))
    if cfg.get("sbs_stress"):  # maxima and resets of the layer unit under bursty stalls
        jobs.append(dict(unit="sbs_layer:e4m1,maxima,bursty", sim=sims[0],
                         test="layer_maxima_and_reset", seed=1, block="sbs_layer",
                         config=("e4m1", cfg["sbs_layer_T"], "digits"),
                         env={"APPROXNN_STRESS": "bursty"}))
    if cfg.get("sbs_mnist_T"):
        jobs.append(dict(unit=f"sbs_layer:e4m1,mnist,T={cfg['sbs_mnist_T']}", sim=sims[-1],
                         test="network_end_to_end", seed=1, block="sbs_layer",
                         config=("e4m1", cfg["sbs_mnist_T"], "mnist")))
    if cfg.get("sbs_published_T"):  # the published MNIST network on its two layer units
        jobs.append(dict(unit=f"sbs_layer:e4m1,mnist_published,T={cfg['sbs_published_T']}",
                         sim=sims[-1], test="network_end_to_end", seed=1,
                         block="sbs_published", config=(cfg["sbs_published_T"],)))
    # CNN blocks: the first simulator (smoke) or all, the engine's seeds like the units'
    for block, params, count in cfg["cnn"]:
        for sim in sims[: cfg["cnn_sims"]]:
            for seed in range(1, (n_seeds if block == "engine" else 1) + 1):
                desc = ",".join(f"{k}={v}" for k, v in params.items())
                jobs.append(dict(unit=f"cnn_{block}:{desc}", sim=sim, test="all", seed=seed,
                                 block="cnn", config=(block, params, count,
                                                      cfg["cnn_images"], "digits"),
                                 env={"APPROXNN_RESETS": cfg.get("resets", 3)}))
    for params in cfg["cnn_mnist"]:  # 20 MNIST test images, every layer checked
        jobs.append(dict(unit=f"cnn_engine:mnist,lanes={params['lanes']},mul={params['mul']}",
                         sim=sims[-1], test="EngineNetworkTest", seed=1, block="cnn",
                         config=("engine", params, 0, 20, "mnist")))
    # scoreboard sensitivity: a copy of a block with one output bit flipped (one operand pair,
    # one output beat) must fail; its scoreboard's mismatch bin is the testpoint's cover item
    jobs.append(dict(unit=f"{FAULT_UNIT},fault", sim=sims[0], test="ArithExhaustiveTest",
                     seed=1, block="arith_fault", broken=FAULT_PAIR, expect_fail=True))
    for block, params in (("requant", {}), ("mac", {"lanes": 4})):
        jobs.append(dict(unit=f"cnn_{block}:fault", sim=sims[0], test="all", seed=9,
                         block="cnn", config=(block, params, 300, 1, "digits"),
                         broken=FAULT_BEAT, expect_fail=True))
    if cfg.get("fusesoc_project"):  # the generator in a throwaway FuseSoC project
        jobs.append(dict(unit="fusesoc_project:cnn_engine,full", sim="icarus+verilator",
                         test="lint,sim,sim_verilator,synth", seed=1, block="fusesoc"))
    return by_stage(jobs, tier)


#: the planted faults of the scoreboard-sensitivity jobs: the unit and operand pair whose
#: result gets one bit flipped, the output beat of a CNN block that does
FAULT_UNIT, FAULT_PAIR, FAULT_BEAT = "drum:k=4,width=8,signed=1", (-53, 91), 57
#: job block -> testplan family; blocks not listed are tool flows outside the testplans
FAMILY = {"arith": "arith", "arith_fault": "arith", "sbs_update": "sbs", "sbs_layer": "sbs",
          "cnn": "cnn"}
#: CNN block -> its cocotb module (the tests a job with test "all" runs)
CNN_MODULES = {"requant": "cocotb_requant", "mac": "cocotb_mac", "pool": "cocotb_pool",
               "hf6mac": "cocotb_hf6mac", "engine": "cocotb_engine"}


def by_stage(jobs: list[dict], tier: str) -> list[dict]:
    """The jobs whose tests the tier's testplan stages include (:data:`testplan.TIER_STAGES`);
    a CNN job of every test of a module ("all") keeps the tier's share of them."""
    out = []
    wanted_of = {f: testplan.tier_tests(tier, f) for f in set(FAMILY.values())}
    registered_of = {}
    for job in jobs:
        family = FAMILY.get(job.get("block", "arith"))
        if family is None:
            out.append(job)
            continue
        wanted = wanted_of[family]
        if job["test"] != "all":
            if job["test"] in wanted:
                out.append(job)
            continue
        if family not in registered_of:
            registered_of[family] = testplan.registered_tests(family)
        module = registered_of[family][CNN_MODULES[job["config"][0]]]
        keep = sorted(module & wanted)
        if keep:
            out.append(dict(job, test="all" if set(keep) == module else ",".join(keep)))
    return out


def _job_name(job: dict) -> str:
    return f"{job['unit']}|{job['sim']}|{job['test']}|seed={job['seed']}"


def run_job(job: dict, out: Path) -> dict:
    from verif.arith.harness import run_unit, safe_name  # noqa: PLC0415

    tag = safe_name(_job_name(job))
    start = time.time()
    build_dir, coverage = out / "jobs" / tag, out / "jobs" / tag / "coverage.json"
    try:
        block = job.get("block", "arith")
        if block == "sbs_update":
            from verif.sbs.harness import run_update  # noqa: PLC0415

            res = run_update(*job["config"], sim=job["sim"], testcase=job["test"],
                             seed=job["seed"], count=12, build_dir=build_dir,
                             extra_env={"APPROXNN_COVERAGE_FILE": coverage.resolve(),
                                        **job.get("env", {})})
        elif block == "cnn":
            from verif.cnn.harness import run_block  # noqa: PLC0415

            name, params, count, images, network = job["config"]
            res = run_block(name, sim=job["sim"], seed=job["seed"], count=count or 1,
                            params=params, build_dir=build_dir, broken=job.get("broken"),
                            testcase=None if job["test"] == "all" else job["test"].split(","),
                            extra_env={"APPROXNN_IMAGES": images,
                                       "APPROXNN_COVERAGE_FILE": coverage.resolve(),
                                       "APPROXNN_NETWORK": network,
                                       **job.get("env", {})})
        elif block == "fusesoc":
            from verif.fusesoc_project import FULL  # noqa: PLC0415
            from verif.fusesoc_project import run as run_project  # noqa: PLC0415

            steps = run_project(FULL, build_dir / "project")
            bad = [s for s in steps if s.returncode]
            res = SimpleNamespace(passed=not bad, messages=[
                f"{s.target}: exit {s.returncode}: {s.log[-400:]}" for s in bad])
        elif block == "sbs_published":
            from verif.sbs.harness import run_published  # noqa: PLC0415

            ok_pub, msgs, _ = run_published(T=job["config"][0], images=1, sim=job["sim"],
                                            seed=job["seed"], build_dir=build_dir)
            res = SimpleNamespace(passed=ok_pub, messages=msgs)
        elif block == "sbs_layer":
            from verif.sbs.harness import run_layer  # noqa: PLC0415

            weights, T, network = job["config"]
            # the committed MNIST-sized layer unit (cores/sbs/generate.py LAYER_CONFIGS)
            mnist = dict(zip(("ip_max", "rows_max"), LAYER_CONFIGS[1][3:], strict=True))
            size = mnist if network == "mnist" else {}
            res = run_layer(weights=weights, sim=job["sim"], testcase=job["test"], T=T,
                            network=network, seed=job["seed"], build_dir=build_dir,
                            extra_env={"APPROXNN_COVERAGE_FILE": coverage.resolve(),
                                       **job.get("env", {})}, **size)
        else:
            res = run_unit(
                job["unit"].removesuffix(",fault"), sim=job["sim"], test=job["test"],
                seed=job["seed"], count=5000, build_dir=build_dir, coverage_file=coverage,
                broken=job.get("broken"),
            )
        ok, messages = res.passed, res.messages
        if job.get("expect_fail"):  # a planted fault: the test must fail
            ok, messages = not res.passed, ([] if not res.passed else
                                            ["the planted fault was not caught"])
    except Exception as exc:  # a build error is a failed job, not a crashed regression
        ok, messages = False, [f"{type(exc).__name__}: {exc}"]
    return dict(job, ok=ok, messages=messages, seconds=time.time() - start,
                coverage=out / "jobs" / tag / "coverage.json")


def write_junit(results: list[dict], path: Path, elapsed: float) -> None:
    suite = ET.Element("testsuite", name="approxnn-regression", tests=str(len(results)),
                       failures=str(sum(not r["ok"] for r in results)), time=f"{elapsed:.1f}")
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=r["sim"], name=_job_name(r),
                             time=f"{r['seconds']:.2f}")
        if not r["ok"]:
            fail = ET.SubElement(case, "failure", message=(r["messages"] or ["failed"])[0])
            fail.text = "\n".join(r["messages"])
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="unicode", xml_declaration=True)


def merge_coverage_files(files: list[Path], outdir: Path) -> dict:
    """Sum the per-job coverage (JSON from verif.arith.env.write_coverage) bin by bin; write
    ``coverage.json`` and ``coverage.md`` (bins hit / bins, and the holes) into ``outdir``."""
    merged: dict[str, dict[str, int]] = {}
    for f in files:
        if not Path(f).exists():
            continue
        for name, bins in json.loads(Path(f).read_text())["items"].items():
            acc = merged.setdefault(name, {})
            for b, hits in bins.items():
                acc[b] = acc.get(b, 0) + hits
    (outdir / "coverage.json").write_text(json.dumps(merged, indent=1, sort_keys=True))
    lines = ["# Merged functional coverage", "", "| cover item | bins hit | holes |",
             "|---|---|---|"]
    for name, bins in sorted(merged.items()):
        holes = [b for b, h in bins.items() if h == 0]
        hit = len(bins) - len(holes)
        lines.append(f"| {name} | {hit}/{len(bins)} | {', '.join(holes[:8]) or '-'} |")
    (outdir / "coverage.md").write_text("\n".join(lines) + "\n")
    return merged


def write_testpoint_coverage(merged: dict, tier: str, path: Path) -> list[dict]:
    """The merged coverage per testpoint of the tier's stages, as a Markdown table: bins hit
    of its cover items, items no job sampled, or the testpoint's coverage waiver."""
    stages = testplan.TIER_STAGES[tier]
    rows = [r for r in testplan.coverage_by_testpoint(merged) if r["stage"] in stages]
    lines = [f"# Coverage per testpoint ({tier}: stages {', '.join(stages)})", "",
             "| family | blocks | testpoint | stage | bins hit | not sampled |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        if r["waiver"]:
            hit, missing = "waived", " ".join(str(r["waiver"]).split())
        else:
            hit = f"{r['hit']}/{r['bins']}"
            missing = ", ".join(r["unmeasured"]) or "-"
        lines.append(f"| {r['family']} | {', '.join(r['blocks'])} | {r['testpoint']} | "
                     f"{r['stage']} | {hit} | {missing} |")
    path.write_text("\n".join(lines) + "\n")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tier", choices=sorted(TIERS), default="smoke")
    ap.add_argument("--sims", default=",".join(SIMULATORS), help="comma-separated simulators")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per random configuration")
    ap.add_argument("--jobs", type=int, default=2, help="parallel simulations")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "regress")
    ap.add_argument("--no-mutate", action="store_true",
                    help="nightly: skip the mutation run (python -m verif.mutate)")
    args = ap.parse_args(argv)
    sims = [s for s in args.sims.split(",") if s]
    for s in sims:
        if s not in SIMULATORS:
            ap.error(f"unknown simulator {s!r}; choose from {', '.join(SIMULATORS)}")
        if not simulator_available(s):
            ap.error(f"simulator {s} is not installed (see README.md)")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    jobs = plan(args.tier, sims, args.seeds)
    print(f"regression {args.tier}: {len(jobs)} jobs on {args.jobs} workers -> {out}", flush=True)
    start = time.time()
    results = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_job, job, out) for job in jobs]
        for i, fut in enumerate(as_completed(futures), 1):
            r = fut.result()
            results.append(r)
            state = "PASS" if r["ok"] else "FAIL"
            print(f"[{i}/{len(jobs)}] {state} {_job_name(r)} ({r['seconds']:.1f} s)", flush=True)
            if not r["ok"]:
                for m in r["messages"][:3]:
                    print(f"      {m}", flush=True)
    elapsed = time.time() - start
    results.sort(key=_job_name)
    write_junit(results, out / "junit.xml", elapsed)
    merged = merge_coverage_files([r["coverage"] for r in results], out)
    write_testpoint_coverage(merged, args.tier, out / "coverage_testpoints.md")
    failed = [r for r in results if not r["ok"]]
    lines = [f"# Regression {args.tier}", "",
             f"{len(results) - len(failed)} passed, {len(failed)} failed in {elapsed:.0f} s", ""]
    lines += [f"- FAIL {_job_name(r)}: {(r['messages'] or [''])[0]}" for r in failed]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    status = 1 if failed else 0
    if TIERS[args.tier].get("mutate") and not args.no_mutate:
        # the mutation catalogue (verif.mutate): at least 95 % of the mutants killed by
        # comparison (scoreboard or checker), none only by a timeout
        from verif import mutate  # noqa: PLC0415

        print("mutation run (python -m verif.mutate)", flush=True)
        mrc = mutate.main(["--out", str(out / "mutate"), "--jobs", str(args.jobs)])
        report = out / "mutate" / "mutants.md"
        lines += ["", "## Mutation", "", report.read_text() if report.exists() else
                  "no mutation report was written"]
        (out / "summary.md").write_text("\n".join(lines) + "\n")
        status = status or mrc
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    print(f"reports: {out / 'junit.xml'}, {out / 'coverage.md'}, {out / 'summary.md'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
