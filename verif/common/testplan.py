"""The testplans of the verification families (verif/<family>/testplan.yml), read and checked
both ways, and the regression tiers read from their stages.

A testplan lists testpoints; each names its intent (``desc``), its stage (``V1`` first, then
``V2``, ``V3``), the blocks it concerns (``blocks``: blocks with a manifest,
``cores/<family>/*/manifest.toml``), the cocotb / pyuvm tests that exercise it (``tests``:
a list of names, or module -> names), the pytest functions that run them (``pytest``) and the
cover items that measure it (``covergroups``). A testpoint measured by a test's own checks and
by no cover item says why in ``coverage_waiver``. ``other_pytest`` (name -> reason) lists the
pytest functions of the simulation modules that check no testpoint of the RTL (a generator's
argument check, say).

:func:`problems` checks a plan both ways: every registered test of the family's cocotb modules
and every pytest function of its simulation modules maps to a testpoint, and every testpoint
names a registered test, a pytest function and a cover item (or a waiver with its reason). In
a family whose blocks have manifests, every testpoint names its blocks (the family's name:
all of them, where one testbench serves every block, as for the arithmetic units), its tests are
registered by those blocks' cocotb modules (the manifest's ``testbench.module`` and modules
named after it, e.g. ``cocotb_engine_cycles``), and every block has testpoints: the plan is
per block.
Tiers: ``smoke`` runs the tests of the V1 testpoints, ``nightly`` those of every stage
(:func:`tier_tests`); :func:`coverage_by_testpoint` reports merged coverage per testpoint.
No simulator is needed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import yaml

VERIF = Path(__file__).resolve().parent.parent
FAMILIES = ("arith", "cnn", "sbs", "zynq")
#: testplan family -> the manifest families of its blocks (the Vivado-ready tops' plan also
#: covers the board systems, fpga/<system>.manifest.toml)
MANIFEST_FAMILIES = {"zynq": ("zynq", "fpga")}
STAGES = ("V1", "V2", "V3")
#: regression tier -> the testplan stages it runs
TIER_STAGES = {"smoke": ("V1",), "nightly": STAGES}


@dataclass
class Testpoint:
    name: str
    stage: str
    desc: str
    blocks: list[str]
    tests: dict[str, list[str]]  # cocotb module (or "" when not given) -> test names
    pytest: list[str]
    covergroups: list[str]
    waiver: str | None = None
    family: str = ""
    test_names: set[str] = field(default_factory=set)


def _plan(family: str, root: Path = VERIF) -> dict:
    return yaml.safe_load((root / family / "testplan.yml").read_text())


def load(family: str, root: Path = VERIF) -> list[Testpoint]:
    """The testpoints of ``verif/<family>/testplan.yml``."""
    plan = _plan(family, root)
    out = []
    for tp in plan["testpoints"]:
        tests = tp.get("tests") or []
        tests = dict(tests) if isinstance(tests, dict) else {"": list(tests)}
        point = Testpoint(name=tp["name"], stage=tp["stage"], desc=tp.get("desc", ""),
                          blocks=list(tp.get("blocks") or [plan["block"]]), tests=tests,
                          pytest=list(tp.get("pytest") or []),
                          covergroups=list(tp.get("covergroups") or []),
                          waiver=tp.get("coverage_waiver"), family=family)
        point.test_names = {t for names in tests.values() for t in names}
        out.append(point)
    return out


def _decorated_test(node) -> bool:
    """``@cocotb.test()`` / ``@pyuvm.test()`` (with or without the call)."""
    for dec in getattr(node, "decorator_list", []):
        target = dec.func if isinstance(dec, ast.Call) else dec
        if isinstance(target, ast.Attribute) and target.attr == "test":
            return True
    return False


def _registration(node) -> str | None:
    """The test a ``X = pyuvm.test()(X)`` / ``pyuvm.test()(X)`` line registers, or the name
    of a ``x = register("name", X)`` line (verif.common.axi_env.register)."""
    call = node.value if isinstance(node, ast.Assign | ast.Expr) else None
    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            and call.func.id == "register" and call.args
            and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)):
        return call.args[0].value
    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Call)
            and isinstance(call.func.func, ast.Attribute) and call.func.func.attr == "test"
            and call.args and isinstance(call.args[0], ast.Name)):
        return call.args[0].id
    return None


def registered_tests(family: str, root: Path = VERIF) -> dict[str, set[str]]:
    """cocotb module name -> the tests it registers (cocotb functions and pyuvm tests)."""
    out = {}
    for path in sorted((root / family).glob("cocotb_*.py")):
        tree = ast.parse(path.read_text())
        names = {n.name for n in tree.body if _decorated_test(n)}
        names |= {r for n in tree.body if (r := _registration(n))}
        out[path.stem] = names
    return out


def sim_pytests(family: str, root: Path = VERIF) -> set[str]:
    """The pytest functions of the family's simulation modules (every ``test_*.py`` but the
    testplan check itself)."""
    out = set()
    for path in sorted((root / family).glob("test_*.py")):
        if path.name == "test_testplan.py":
            continue
        tree = ast.parse(path.read_text())
        out |= {n.name for n in tree.body
                if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    return out


def problems(family: str, root: Path = VERIF) -> list[str]:
    """Everything that breaks the two-way mapping of the family's testplan (empty: none)."""
    points = load(family, root)
    registered = registered_tests(family, root)
    all_tests = set().union(*registered.values()) if registered else set()
    pytests = sim_pytests(family, root)
    out = []
    if not points:
        return [f"{family}: empty testplan"]
    names = [tp.name for tp in points]
    out += [f"{family}: testpoint {n} listed twice" for n in sorted(set(names))
            if names.count(n) > 1]
    for tp in points:
        where = f"{family}/{tp.name}"
        if tp.stage not in STAGES:
            out.append(f"{where}: stage {tp.stage!r}, expected one of {', '.join(STAGES)}")
        if not tp.desc.strip():
            out.append(f"{where}: no description")
        if not tp.test_names:
            out.append(f"{where}: no cocotb / pyuvm test")
        for module, tests in tp.tests.items():
            known = registered.get(module, set()) if module else all_tests
            out += [f"{where}: test {t} is not registered"
                    + (f" in {module}.py" if module else "") for t in tests if t not in known]
        if not tp.pytest:
            out.append(f"{where}: no pytest function runs it")
        out += [f"{where}: pytest function {t} does not exist" for t in tp.pytest
                if t not in pytests]
        if tp.covergroups and tp.waiver:
            out.append(f"{where}: cover items and a coverage waiver")
        elif not tp.covergroups and not (tp.waiver or "").strip():
            out.append(f"{where}: no cover item (or coverage_waiver with the reason)")
    out += _block_problems(family, points, registered, root)
    planned = set().union(*(tp.test_names for tp in points))
    for module, tests in registered.items():
        out += [f"{family}: test {t} ({module}.py) maps to no testpoint"
                for t in sorted(tests) if t not in planned]
    other = _plan(family, root).get("other_pytest") or {}
    for name, reason in other.items():
        if name not in pytests:
            out.append(f"{family}: other_pytest {name} does not exist")
        if not str(reason or "").strip():
            out.append(f"{family}: other_pytest {name} gives no reason")
    planned_py = set().union(*(set(tp.pytest) for tp in points)) | set(other)
    out += [f"{family}: pytest function {t} maps to no testpoint"
            for t in sorted(pytests - planned_py)]
    return out


def _block_problems(family, points, registered, root) -> list[str]:
    """The per-block mapping of a family whose blocks have manifests (none: nothing)."""
    from cores.common import manifest  # noqa: PLC0415

    families = MANIFEST_FAMILIES.get(family, (family,))
    blocks = {m.block: m for m in manifest.all_manifests() if m.family in families}
    if not blocks:
        return []
    out = []
    covered = set()
    for tp in points:
        where = f"{family}/{tp.name}"
        if tp.blocks == [family]:  # a testpoint of every block (one testbench for the family)
            tp.blocks = sorted(blocks)
        unknown = [b for b in tp.blocks if b not in blocks]
        if unknown:
            out.append(f"{where}: blocks {', '.join(unknown)} have no manifest (valid: "
                       f"{', '.join(sorted(blocks))})")
            continue
        covered |= set(tp.blocks)
        modules = [mod for mod in registered for b in tp.blocks
                   for tb in (blocks[b].test_module, *blocks[b].other_modules)
                   if mod.startswith(tb.rsplit(".", 1)[-1])]
        theirs = set().union(*(registered[mod] for mod in modules)) if modules else set()
        out += [f"{where}: test {t} is not a test of {', '.join(tp.blocks)}"
                for t in sorted(tp.test_names - theirs)]
    out += [f"{family}: block {b} has no testpoint" for b in sorted(set(blocks) - covered)]
    return out


def tier_tests(tier: str, family: str) -> set[str]:
    """The cocotb / pyuvm tests a regression tier runs for a family: those of the testpoints
    whose stage the tier includes (:data:`TIER_STAGES`)."""
    stages = TIER_STAGES[tier]
    return set().union(*(tp.test_names for tp in load(family) if tp.stage in stages))


def coverage_by_testpoint(merged: dict[str, dict[str, int]],
                          families=FAMILIES) -> list[dict]:
    """Per testpoint: its cover items' bins hit / bins in the merged coverage (``merged``:
    cover item -> bin -> hits, as ``verif.regress.merge_coverage_files`` writes it); items
    that no job sampled count as not measured."""
    rows = []
    for family in families:
        for tp in load(family):
            hit = total = 0
            missing = []
            for item in tp.covergroups:
                bins = merged.get(item)
                if bins is None:
                    missing.append(item)
                    continue
                total += len(bins)
                hit += sum(1 for h in bins.values() if h)
            rows.append({"family": family, "blocks": tp.blocks, "testpoint": tp.name,
                         "stage": tp.stage,
                         "items": len(tp.covergroups), "bins": total, "hit": hit,
                         "unmeasured": missing, "waiver": tp.waiver})
    return rows
