"""Block manifests: one small declarative file per block
(``cores/<family>/<block>/manifest.toml``, or ``<block>.manifest.toml`` when a folder holds two
blocks) holding the facts the generator, the ``.core`` template, the testbench configuration,
the README figures and the testplan share:

* ``version`` and ``description`` of the core;
* ``parameters``: per generation parameter its type, default, valid range (``min`` / ``max``,
  ``choices``, ``power_of_two``, ``at_least`` another parameter times ``at_least_times``) and a
  description; a
  parameter whose valid values come from elsewhere (a multiplier unit of the registry) says
  so in ``values`` and is checked by the block's own ``check`` function;
* ``committed``: the configurations whose Verilog is committed (the first is the default);
  an entry with ``target`` / ``what`` also gets FuseSoC lint / sim / synth targets (lint and
  synth only with ``sim = false``, for a build the core's own test cannot run alone);
  ``role`` says in words what a configuration is for, where that is not the above;
* ``latency``: cycles from the accepted input to the result, where the block has a fixed one;
* ``registers``: the SystemRDL description (a path relative to the block's folder);
* ``testbench``: the cocotb module, the output port a broken copy corrupts (and the beat
  condition), ``plusargs`` (parameter -> testbench setting), ``spec_plusarg`` (a setting that
  carries the whole configuration as a unit-registry name), ``other_modules`` (more cocotb
  modules that test the block), fixed ``settings`` of the FuseSoC sim target and its
  ``description``.

Two families keep facts that have their home elsewhere, and say so instead of restating them:

* an arithmetic unit (``unit = "<registry name>"``, ``cores/arith/<unit>/manifest.toml``) takes
  its description, parameters (names, meanings, width-dependent ranges and defaults) and
  validation from the unit registry (``refmodels.arith``), the ground floor every unit model
  and core already reads; its manifest holds what the registry does not know (version,
  committed configurations, latency of the registered module, testbench);
* a Vivado-ready top (``core = "<family>:<block>"``, ``cores/zynq/<top>/manifest.toml``) wraps
  a core: its parameters, checks and registers are that core's manifest's, its ``committed``
  configuration is validated by them, and ``top`` names the wrapper module, ``waivers`` the
  core's lint waivers it ships (a path relative to ``cores/``).

* a board system (``fpga/<system>.manifest.toml``, family ``fpga``) lists its accelerators
  (``accels``: block-design cell, Vivado-ready top, control-register base, DMAs); its
  parameter is the board (a row of ``fpga/boards.py``), one committed entry per board folder.

``base = "<path>"`` (relative to the manifest) merges a family's shared entries under the
block's own (``cores/arith/family.manifest.toml``: one version, the committed widths, the
testbench of every unit core); a block entry wins over the base's.

TOML, read with the standard library's ``tomllib``: typed values (integers stay integers,
``true`` is a boolean), comments, no code, and no parser to install on a fresh machine.
:func:`load` returns a :class:`Manifest`; :meth:`Manifest.validate` checks a configuration
against it (one-line errors naming the parameter and its valid values).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

CORES_DIR = Path(__file__).resolve().parent.parent
#: manifest type -> Python type(s); "units": a unit name or a list of unit names
TYPES = {"int": int, "str": str, "bool": bool, "units": (str, list)}
README_MARK = re.compile(r"(<!-- manifest:(?P<block>\w+) -->\n).*?(<!-- /manifest:(?P=block) -->)",
                         re.S)


class ManifestError(ValueError):
    """A configuration outside what a block's manifest allows (or a malformed manifest)."""


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: object
    doc: str
    min: int | None = None
    max: int | None = None
    choices: tuple | None = None
    power_of_two: bool = False
    at_least: str | None = None  # another parameter this one may not be below ...
    at_least_times: int = 1  # ... times this factor
    values: str | None = None  # valid values described in words (checked by the block)

    def describe(self, params: dict | None = None) -> str:
        """The valid values in words (``params``: the configuration, for ``at_least``)."""
        if self.values:
            return self.values
        if self.type == "bool":
            return "true or false"
        if self.choices is not None:
            return f"one of {self.choices}"
        lo = self.min
        if self.at_least and params is not None:
            lo = max(lo if lo is not None else 0, self.at_least_times * params[self.at_least])
        span = f"{lo}..{self.max}" if lo is not None else f"at most {self.max}"
        kind = "a power of two" if self.power_of_two else "an integer"
        if self.at_least and params is None:
            times = f"{self.at_least_times} x " if self.at_least_times != 1 else ""
            return f"{kind} in {span}, at least {times}{self.at_least}"
        return f"{kind} in {span}"

    def check(self, value, params: dict) -> None:
        want = TYPES[self.type]
        if self.type == "units" and isinstance(value, list) \
                and not all(isinstance(v, str) for v in value):
            raise ManifestError(f"{self.name} must be {self.describe(params)}, got {value!r}")
        if isinstance(value, bool) != (want is bool) or not isinstance(value, want):
            raise ManifestError(f"{self.name} must be {self.describe(params)}, got {value!r}")
        if self.values:
            return
        bad = self.choices is not None and value not in self.choices
        if want is int and self.choices is None:
            lo = self.min
            if self.at_least:
                lo = max(lo if lo is not None else 0,
                         self.at_least_times * params[self.at_least])
            bad = (lo is not None and value < lo) or (self.max is not None and value > self.max)
            bad = bad or (self.power_of_two and (value < 1 or value & (value - 1)))
        if bad:
            raise ManifestError(f"{self.name} must be {self.describe(params)}, got {value!r}")


@dataclass(frozen=True)
class Manifest:
    family: str
    block: str
    folder: Path
    version: str
    description: str
    parameters: dict[str, Parameter]
    committed: list[dict]
    targets: dict[int, tuple[str, str]]  # index in committed -> (target tag, what it is)
    unsimulated: frozenset = frozenset()  # indices in committed with no sim target
    roles: dict = field(default_factory=dict)  # index in committed -> its role in words
    latency: dict = field(default_factory=dict)
    registers: Path | None = None
    test_module: str | None = None
    out_port: str | None = None
    beat: str | None = None
    plusargs: dict[str, str] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)  # fixed settings of the FuseSoC sim target
    sim_description: str | None = None
    check_function: str | None = None
    unit: str | None = None  # registry unit name: parameters and checks from refmodels.arith
    core: str | None = None  # "<family>:<block>" a top wraps: parameters and checks from it
    top: str | None = None  # the top-level module (a wrapper around ``core``)
    waivers: str | None = None  # lint waivers shipped with a top (relative to cores/)
    spec_plusarg: str | None = None  # setting carrying the configuration as a unit name
    other_modules: tuple = ()  # more cocotb modules that test the block (a baseline, say)
    accels: tuple = ()  # a board system's accelerators (fpga/<system>.manifest.toml)

    @property
    def name(self) -> str:
        return f"{self.family}:{self.block}"

    def validate(self, params: dict) -> dict:
        """``params`` with the defaults filled in, after the manifest's checks; unknown
        parameters and values out of range raise :class:`ManifestError` (one line)."""
        if self.unit:
            return _unit_params(self.unit, params)
        unknown = sorted(set(params) - set(self.parameters))
        if unknown:
            raise ManifestError(f"{self.name} has no parameter {', '.join(unknown)}; valid: "
                                f"{', '.join(self.parameters) or 'none'}")
        full = {n: params.get(n, p.default) for n, p in self.parameters.items()}
        for name, par in self.parameters.items():
            par.check(full[name], full)
        return full

    def check(self, params: dict) -> dict:
        """The block's own normalised configuration (its ``check`` function, named in the
        manifest), after :meth:`validate`; without one, the validated parameters."""
        full = self.validate(params)
        if self.core:
            return self.core_manifest().check(full)
        if not self.check_function:
            return full
        module, _, func = self.check_function.partition(":")
        return getattr(importlib.import_module(module), func)(**full)

    def default_settings(self) -> dict[str, str]:
        """Testbench setting -> the parameter's default, as the text a plusarg carries (what a
        testbench assumes when the setting is absent)."""
        return {var: str(self.parameters[name].default) for name, var in self.plusargs.items()}

    def testbench_settings(self, params: dict) -> dict:
        """The testbench settings (``APPROXNN_*`` environment variables / plusargs) of a
        configuration, from the block's normalised parameters."""
        if self.spec_plusarg:
            return {self.spec_plusarg: str(self.spec(params))}
        if not self.plusargs:
            return {}
        norm = self.check(params)
        return {var: norm[name] for name, var in self.plusargs.items()}


    def core_manifest(self) -> Manifest:
        """The manifest of the core a top wraps."""
        return load(*self.core.split(":"))

    def spec(self, params: dict):
        """The unit registry's :class:`refmodels.arith.UnitSpec` of a configuration (a unit
        manifest only)."""
        from refmodels.arith import UnitSpec  # noqa: PLC0415

        full = self.validate(params)
        return UnitSpec(self.unit, width=full.pop("width"), signed=full.pop("signed"),
                        params=full)


def _unit_params(unit: str, params: dict) -> dict:
    """A unit configuration completed and checked by the registry, in its order (unit
    parameters, width, signed); its errors become one-line :class:`ManifestError`."""
    from refmodels.arith import UnitError, UnitSpec  # noqa: PLC0415

    given = dict(params)
    try:
        spec = UnitSpec(unit, width=given.pop("width", None), signed=given.pop("signed", None),
                        params=given)
    except UnitError as exc:
        raise ManifestError(str(exc).splitlines()[0]) from None
    return {**spec.params, "width": spec.width, "signed": spec.signed}


def _unit_parameters(unit: str) -> tuple[str, dict[str, Parameter]]:
    """The description and the parameters of a registry unit, as manifest parameters (their
    ranges and defaults in the registry's words: they depend on the width)."""
    from refmodels.arith.registry import BUILTIN_WIDTH_RANGE, UnitError, list_units  # noqa

    udef = next((u for u in list_units() if u.name == unit and u.builtin), None)
    if udef is None:
        raise UnitError(f"unit = {unit!r} is not a built-in unit of the registry")
    out = {p.name: Parameter(name=p.name, type="int", default=p.default_text, doc=p.doc,
                             values=p.range_text) for p in udef.params}
    lo, hi = BUILTIN_WIDTH_RANGE
    out["width"] = Parameter(name="width", type="int", default=8, doc="operand width",
                             values=f"{lo}..{hi}")
    out["signed"] = Parameter(name="signed", type="int", default=0,
                              doc="two's complement operands and result", values="0 or 1")
    return udef.description, out


def readme_table(m: Manifest) -> str:
    """The manifest as the Markdown of its block README (between ``<!-- manifest:<block> -->``
    and ``<!-- /manifest:<block> -->``)."""
    lines = [f"Generated from [`{m.folder.name}/{_file_name(m)}`]({_file_name(m)}) by "
             "`python -m cores.common.manifest`; core version " + m.version + ".", ""]
    if m.unit:
        lines[0] = lines[0][:-1] + "; parameters from the unit registry (`refmodels.arith`)."
    if m.core:
        lines[0] = lines[0][:-1] + f"; parameters those of `{m.core}` (its manifest)."
    if m.parameters and not m.core:
        lines += ["| name | meaning | values | default |", "|---|---|---|---|"]
        for name, par in m.parameters.items():
            default = str(par.default).lower() if par.type == "bool" else par.default
            lines.append(f"| `{name}` | {par.doc} | {par.describe()} | `{default}` |")
        lines.append("")
    configs = []
    for i, c in enumerate(m.committed):
        text = ", ".join(f"{k}={v}" for k, v in c.items()) or "no parameters"
        tag = m.targets.get(i)
        role = m.roles.get(i) or ("default" if i == 0 else f"targets *_{tag[0]}" if tag
                                  else "Verilog only")
        configs.append(f"{text} ({role})")
    lines.append("Committed configurations: " + "; ".join(configs) + ".")
    if m.top:
        lines.append(f"Top-level module: `{m.top}`.")
    if m.latency:
        lines.append("Latency (cycles): " + ", ".join(f"{k} {v}" for k, v in m.latency.items())
                     + ".")
    tb = f"Testbench: `{m.test_module}`"
    if m.plusargs:
        tb += "; settings " + ", ".join(f"`{v}` ({k})" for k, v in m.plusargs.items())
    if m.spec_plusarg:
        tb += f"; setting `{m.spec_plusarg}` (the configuration as a unit name)"
    lines.append(tb + ".")
    return "\n".join(lines) + "\n"


def _file_name(m: Manifest) -> str:
    return "manifest.toml" if m.block == m.folder.name else f"{m.block}.manifest.toml"


def readme_path(m: Manifest) -> Path:
    """The README that shows ``m``'s table: the block folder's, else its family's (the tops of
    cores/zynq share one)."""
    own = m.folder / "README.md"
    return own if own.exists() else m.folder.parent / "README.md"


def readme_outputs() -> dict[Path, str]:
    """Every block README with its manifest table brought up to date."""
    out: dict[Path, str] = {}
    for m in all_manifests():
        readme = readme_path(m)
        text = out.get(readme, readme.read_text())
        if f"<!-- manifest:{m.block} -->" not in text:
            raise ManifestError(f"{readme}: no <!-- manifest:{m.block} --> marker")
        table = readme_table(m)
        if readme.parent != m.folder:  # a family README: links from its folder
            table = table.replace(f"]({_file_name(m)})", f"]({m.folder.name}/{_file_name(m)})")
        out[readme] = README_MARK.sub(
            lambda mm, table=table, block=m.block: mm.group(1) + table + mm.group(3)
            if mm.group("block") == block else mm.group(0), text)
    return out


def _parameter(name: str, spec: dict, where: str) -> Parameter:
    known = {"type", "default", "doc", "min", "max", "choices", "power_of_two", "at_least",
             "at_least_times", "values"}
    extra = sorted(set(spec) - known)
    if extra or spec.get("type") not in TYPES or "default" not in spec or not spec.get("doc"):
        raise ManifestError(f"{where}: parameter {name} needs type ({', '.join(TYPES)}), "
                            f"default and doc" + (f"; unknown keys {extra}" if extra else ""))
    choices = spec.get("choices")
    return Parameter(name=name, type=spec["type"], default=spec["default"], doc=spec["doc"],
                     min=spec.get("min"), max=spec.get("max"),
                     choices=tuple(choices) if choices is not None else None,
                     power_of_two=bool(spec.get("power_of_two", False)),
                     at_least=spec.get("at_least"),
                     at_least_times=int(spec.get("at_least_times", 1)), values=spec.get("values"))


def read(path: Path) -> Manifest:
    """The manifest in ``path`` (a ``manifest.toml``)."""
    path = Path(path)
    where = str(path.relative_to(CORES_DIR.parent)) if path.is_relative_to(CORES_DIR.parent) \
        else str(path)
    try:
        data = tomllib.loads(path.read_text())
        if "base" in data:
            base = tomllib.loads((path.parent / data.pop("base")).read_text())
            data = {**base, **data,
                    **{k: {**base[k], **data[k]} for k in base
                       if isinstance(base[k], dict) and isinstance(data.get(k), dict)}}
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise ManifestError(f"{where}: {exc}") from None
    params = {n: _parameter(n, s, where) for n, s in (data.get("parameters") or {}).items()}
    if data.get("unit"):
        from refmodels.arith import UnitError  # noqa: PLC0415

        if params or "description" in data:
            raise ManifestError(f"{where}: a unit's parameters and description are the "
                                "registry's; the manifest may not restate them")
        try:
            data["description"], params = _unit_parameters(data["unit"])
        except UnitError as exc:
            raise ManifestError(f"{where}: {exc}") from None
    registers = path.parent / data["registers"] if data.get("registers") else None
    if data.get("core"):
        if params or registers:
            raise ManifestError(f"{where}: a top's parameters and registers are its core's")
        inner = load(*data["core"].split(":"))
        params, registers = inner.parameters, inner.registers
    for key in ("family", "block", "version", "description"):
        if key not in data:
            raise ManifestError(f"{where}: no {key}")
    committed, targets, unsimulated, roles = [], {}, set(), {}
    for i, entry in enumerate(data.get("committed") or [{}]):
        entry = dict(entry)
        if "role" in entry:
            roles[i] = entry.pop("role")
        tag, what = entry.pop("target", None), entry.pop("what", None)
        if tag:
            targets[i] = (tag, what or tag)
        if not entry.pop("sim", True):
            unsimulated.add(i)
        committed.append(entry)
    tb = data.get("testbench") or {}
    return Manifest(
        family=data["family"], block=data["block"], folder=path.parent,
        version=data["version"], description=" ".join(data["description"].split()),
        parameters=params, committed=committed, targets=targets,
        unsimulated=frozenset(unsimulated), roles=roles,
        latency=dict(data.get("latency") or {}),
        registers=registers, test_module=tb.get("module"),
        out_port=tb.get("out_port"), beat=tb.get("beat"),
        plusargs=dict(tb.get("plusargs") or {}), settings=dict(tb.get("settings") or {}),
        sim_description=tb.get("description"), check_function=data.get("check"),
        unit=data.get("unit"), core=data.get("core"), top=data.get("top"),
        waivers=data.get("waivers"), spec_plusarg=tb.get("spec_plusarg"),
        other_modules=tuple(tb.get("other_modules") or ()),
        accels=tuple(data.get("accels") or ()))


#: the board systems' manifests (fpga/<system>.manifest.toml)
FPGA_DIR = CORES_DIR.parent / "fpga"


def paths() -> list[Path]:
    return sorted([*CORES_DIR.glob("*/*/manifest.toml"), *CORES_DIR.glob("*/*/*.manifest.toml"),
                   *FPGA_DIR.glob("*.manifest.toml")])


def load(family: str, block: str) -> Manifest:
    """The manifest of ``family`` / ``block`` (``cores/<family>/<block>/manifest.toml``, or
    ``<block>.manifest.toml`` in a folder of two blocks)."""
    for path in (CORES_DIR / family / block / "manifest.toml",
                 *CORES_DIR.glob(f"{family}/*/{block}.manifest.toml"),
                 *([FPGA_DIR / f"{block}.manifest.toml"] if family == "fpga" else [])):
        if path.exists():
            return read(path)
    raise ManifestError(f"no manifest for {family}:{block} (cores/{family}/{block}/manifest.toml)")


def all_manifests() -> list[Manifest]:
    return [read(p) for p in paths()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cores.common.manifest",
                                 description="Write the manifest tables into the block READMEs.")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 when a README table is stale")
    args = ap.parse_args(argv)
    try:
        outputs = readme_outputs()
    except ManifestError as exc:
        print(f"manifest: {exc}", file=sys.stderr)
        return 2
    stale = [p for p, text in outputs.items() if p.read_text() != text]
    for p in stale:
        if args.check:
            print(f"stale: {p} (run python -m cores.common.manifest)")
        else:
            p.write_text(outputs[p])
            print(f"wrote {p}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
