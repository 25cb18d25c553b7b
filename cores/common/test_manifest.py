"""The block manifests against the code: every committed configuration is generated and its
Verilog committed, the defaults are the builders', every parameter is validated with a clear
one-line error by the manifest and refused by the block itself, the latencies are the cores',
the plusargs are settings the testbench reads, and the generator reads the manifests."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from cores.arith.common import UNITS as ARITH_UNITS
from cores.arith.common import module_name
from cores.common import manifest
from cores.common.manifest import ManifestError

MANIFESTS = manifest.all_manifests()
IDS = [m.name for m in MANIFESTS]
VERIF = Path(__file__).resolve().parents[2] / "verif"


def _builder(m):
    """The block's own parameter checks (its MyHDL ``build``, or the SbS units' checks)."""
    if m.core:
        return _builder(m.core_manifest())
    if m.family == "fpga":
        from fpga.boards import check_board

        return check_board
    if m.family == "cnn":
        return importlib.import_module(f"cores.cnn.{m.block}.{m.block}").build
    from cores.sbs.spikegen import spikegen
    from cores.sbs.update import update

    if m.block == "spikegen":
        return spikegen.check_params

    def check(lanes, n_max, weights, ip_max=None, rows_max=None):
        update.check_params(lanes, n_max, weights)
        if m.block == "layer":
            update.check_layer_params(ip_max, rows_max)

    return check


def _modules(m) -> list[str]:
    """Module names of the generator's committed configurations of ``m``."""
    if m.family == "arith":
        from cores.arith import generate as arith

        return [module_name(s, r) for s, r in arith.default_specs(m.block)]
    if m.family == "zynq":
        from cores.zynq import generate as zynq

        return [zynq.TOPS[m.block]["top"]]
    if m.family == "cnn":
        from cores.cnn import generate as cnn

        return cnn.module_names(m.block)
    from cores.sbs import generate as sbs

    return [name for name, _ in sbs._modules(m.block)]


def _module_of(m, params) -> list[str]:
    if m.family == "arith":
        spec = m.spec(params)
        return [module_name(spec, False), module_name(spec, True)]
    if m.family == "zynq":
        return [m.top]
    if m.family == "cnn":
        from cores.cnn import generate as cnn

        return [cnn.build_block(m.block, **params)[1]]
    from cores.sbs.spikegen import spikegen
    from cores.sbs.update import update

    full = m.validate(params)
    if m.block == "spikegen":
        return [spikegen.module_name(full["n_max"], full["src_max"])]
    return [update.module_name(*full.values())]


def test_every_block_of_the_generators_has_a_manifest():
    from cores.arith.common import UNITS
    from cores.cnn import generate as cnn
    from cores.sbs import generate as sbs
    from cores.zynq import generate as zynq

    assert {m.block for m in MANIFESTS if m.family == "cnn"} == set(cnn.BLOCKS)
    assert {m.block for m in MANIFESTS if m.family == "sbs"} == set(sbs.CORES)
    assert {m.block for m in MANIFESTS if m.family == "arith"} == set(UNITS)
    assert {m.block for m in MANIFESTS if m.family == "zynq"} == set(zynq.TOPS) == \
        {p.parent.name for p in zynq.ZYNQ_DIR.glob("*/*.core")}


@pytest.mark.parametrize("m", MANIFESTS, ids=IDS)
def test_manifest_is_complete(m):
    assert m.version.count(".") == 2 and all(p.isdigit() for p in m.version.split("."))
    assert m.description and m.committed
    assert m.test_module and (VERIF.parent / (m.test_module.replace(".", "/") + ".py")).exists()
    assert m.registers is None or m.registers.exists(), m.registers
    assert set(m.plusargs) <= set(m.parameters)
    assert all((VERIF.parent / (t.replace(".", "/") + ".py")).exists() for t in m.other_modules)
    for i in m.targets:
        assert 0 < i < len(m.committed)


WITH_RTL = [m for m in MANIFESTS if m.family != "fpga"]
SYSTEMS = [m for m in MANIFESTS if m.family == "fpga"]


@pytest.mark.parametrize("m", WITH_RTL, ids=[m.name for m in WITH_RTL])
def test_every_committed_configuration_is_generated(m):
    modules = []
    for params in m.committed:
        m.validate(params)  # within the manifest's ranges
        for name in _module_of(m, params):
            modules.append(name)
            assert (m.folder / "rtl" / f"{name}.v").exists(), f"{name}.v is not committed"
    assert _modules(m) == modules
    core = (m.folder / f"{m.block}.core").read_text()
    assert f"name: approxnn:{m.family}:{m.block}:{m.version}\n" in core
    for i, (tag, _) in m.targets.items():
        assert f"  lint_{tag}:" in core and f"  synth_{tag}:" in core
        assert (f"  sim_{tag}:" in core) == (i not in m.unsimulated), tag


@pytest.mark.parametrize("m", [m for m in MANIFESTS if m.family == "cnn"],
                         ids=[m.name for m in MANIFESTS if m.family == "cnn"])
def test_defaults_are_the_builders(m):
    sig = inspect.signature(_builder(m)).parameters
    assert list(sig) == list(m.parameters)
    for name, par in m.parameters.items():
        assert sig[name].default == par.default, name


def _bad_values(par, params):
    """Values outside the manifest's description of ``par``: (value, refused by the code too)."""
    out = []
    if par.type == "int":
        out.append((str(par.default), False))  # a string is not an integer
        out.append((True, False))
        if par.choices is not None:
            out += [(max(par.choices) + 1, True), (min(par.choices) - 1, True)]
            out += [(v, True) for v in range(min(par.choices), max(par.choices))
                    if v not in par.choices][:2]
        else:
            lo = par.min
            if par.at_least:
                lo = max(lo, par.at_least_times * params[par.at_least])
            out += [(lo - 1, True), (par.max + 1, True)]
            if par.power_of_two:
                out.append((lo + 1 if lo > 1 else 3, True))
    elif par.type == "str":
        out += [(8, False), ("nosuch:k=1", True)]
    else:
        out.append(("yes", False))
    return out


OWN = [m for m in MANIFESTS if m.parameters and not (m.unit or m.core)]


@pytest.mark.parametrize("m", OWN, ids=[m.name for m in OWN])
def test_every_parameter_is_validated_with_a_clear_error(m):
    base = m.validate({})
    checked = 0
    for name, par in m.parameters.items():
        for value, by_code in _bad_values(par, base):
            params = {name: value}
            if par.values is None:
                with pytest.raises(ManifestError) as exc:
                    m.validate(params)
                msg = str(exc.value)
                assert msg.startswith(f"{name} must be ") and "\n" not in msg, msg
                assert repr(value) in msg
            if by_code:  # the block's own checks refuse it as well
                with pytest.raises(ValueError):
                    _builder(m)(**{**base, **params})
            checked += 1
        # the ends of the range are accepted by the manifest and by the block
        if par.type == "int" and par.values is None:
            ends = par.choices or [max(par.min, par.at_least_times * base.get(par.at_least, 0)),
                                   par.max]
            for v in (min(ends), max(ends)):
                full = m.validate({name: v})
                _builder(m)(**full)
    assert checked >= len(m.parameters)
    with pytest.raises(ManifestError, match=f"{m.name} has no parameter bogus; valid: "):
        m.validate({"bogus": 1})


@pytest.mark.parametrize("m", [m for m in MANIFESTS if m.plusargs],
                         ids=[m.name for m in MANIFESTS if m.plusargs])
def test_plusargs_are_settings_the_testbench_reads(m):
    sources = "".join(p.read_text() for p in (VERIF / m.family).rglob("*.py"))
    for var in m.plusargs.values():
        assert f'"{var}"' in sources, f"no testbench of {m.family} reads {var}"
    settings = m.testbench_settings(m.committed[0])
    assert list(settings) == list(m.plusargs.values())
    defaults = m.default_settings()
    assert list(defaults) == list(m.plusargs.values())
    assert all(str(m.parameters[n].default) == defaults[v] for n, v in m.plusargs.items())


def test_latencies_are_the_cores():
    from cores.cnn.hf6mac import hf6mac
    from cores.cnn.mac import mac
    from cores.cnn.requant import requant

    assert manifest.load("cnn", "requant").latency["result"] == requant.LATENCY
    assert manifest.load("cnn", "mac").latency["first_lane"] == mac.LATENCY_FIRST
    assert manifest.load("cnn", "hf6mac").latency["result"] == hf6mac.LATENCY
    from cores.arith.common import LATENCY

    for m in MANIFESTS:
        if m.family == "arith":
            assert m.latency == {"registered": LATENCY}, m.name
    # the arithmetic testbench's latency check reads the manifest
    env = (VERIF / "arith" / "env.py").read_text()
    assert 'LATENCY = manifest.load("arith", ' in env and "LATENCY = 2" not in env


def test_the_generators_read_the_manifests():
    from cores.cnn import generate as cnn
    from cores.sbs import generate as sbs

    for m in MANIFESTS:
        if m.family not in ("cnn", "sbs"):
            continue
        gen = cnn if m.family == "cnn" else sbs
        assert gen.VERSIONS[m.block] == m.version
        if m.family == "cnn":
            assert cnn.COMMITTED[m.block] == m.committed
            assert cnn.BLOCKS[m.block]["description"] == m.description
            assert cnn.BLOCKS[m.block]["test_module"] == m.test_module
        else:
            assert sbs.SIM_MODULES[m.block] == m.test_module
            assert sbs.core_text(m.block).count(m.description) == 1
    assert cnn.MNIST_ENGINE in manifest.load("cnn", "engine").committed
    assert sbs.LAYER_CONFIGS[1] == tuple(manifest.load("sbs", "layer").committed[1].values())


def test_readme_tables_are_current():
    outputs = manifest.readme_outputs()
    # update and layer share cores/sbs/update/README.md, the zynq tops cores/zynq/README.md,
    # the board systems fpga/README.md; one README per arithmetic unit
    assert len(outputs) == 7 + len(ARITH_UNITS) + 1 + 1
    stale = [str(p) for p, text in outputs.items() if p.read_text() != text]
    assert not stale, f"run python -m cores.common.manifest: {stale}"
    m = manifest.load("cnn", "engine")
    table = manifest.readme_table(m)
    assert "| `cmax` | channel-table entries (OUT_C limit) | a power of two in 2..64, at least " \
        "lanes | `16` |" in table
    assert "lanes=8, mul=int8, ibuf=4096, wbuf=4096, cmax=64 (targets *_mnist)" in table
    assert "| `pack` | int8 only: two lanes per DSP48E1 | true or false | `true` |" in \
        manifest.readme_table(manifest.load("cnn", "mac"))


def test_a_malformed_manifest_is_named(tmp_path):
    bad = tmp_path / "manifest.toml"
    bad.write_text('family = "cnn"\nblock = "x"\nversion = "1.0.0"\ndescription = "d"\n'
                   '[parameters.lanes]\ntype = "int"\ndoc = "lanes"\n')
    with pytest.raises(ManifestError, match="parameter lanes needs type"):
        manifest.read(bad)
    bad.write_text("family = \n")
    with pytest.raises(ManifestError, match="manifest.toml"):
        manifest.read(bad)


UNITS = [m for m in MANIFESTS if m.unit]


@pytest.mark.parametrize("m", UNITS, ids=[m.name for m in UNITS])
def test_a_units_facts_are_the_registrys(m):
    """An arithmetic unit's manifest restates nothing the unit registry holds: its description
    and parameters (names, meanings, ranges, defaults, in order) are the registry's, and its
    validation is the registry's (a one-line error naming the parameter and its range)."""
    from refmodels.arith.registry import BUILTIN_WIDTH_RANGE, list_units

    udef = next(u for u in list_units() if u.name == m.unit)
    assert m.block == m.unit and m.description == udef.description
    assert list(m.parameters) == [*udef.param_names, "width", "signed"]
    for p in udef.params:
        par = m.parameters[p.name]
        assert (par.doc, par.values, par.default) == (p.doc, p.range_text, p.default_text)
    assert m.parameters["width"].values == "{}..{}".format(*BUILTIN_WIDTH_RANGE)
    text = (m.folder / "manifest.toml").read_text()
    assert "[parameters" not in text and "description" not in text
    # every configuration is completed by the registry, in its order
    full = m.validate({"signed": 1})
    assert list(full) == list(m.parameters) and full["width"] == 8
    assert str(m.spec({"signed": 1})) == str(__import__("refmodels.arith").arith.parse_unit(
        m.unit, signed=1))
    bad = [("width", BUILTIN_WIDTH_RANGE[1] + 1), ("signed", 2), ("bogus", 1)]
    bad += [(p.name, p.hi(8) + 1) for p in udef.params]
    for name, value in bad:
        with pytest.raises(ManifestError) as exc:
            m.validate({name: value})
        msg = str(exc.value)
        assert msg.startswith(f"{m.unit}: ") and name in msg and "\n" not in msg, msg
    # the testbench setting is the configuration's registry name
    assert m.testbench_settings(m.committed[1]) == {
        "APPROXNN_UNIT": str(m.spec(m.committed[1]))}
    assert '"APPROXNN_UNIT"' in (VERIF / "arith" / "env.py").read_text()


def test_a_manifest_may_not_restate_a_units_facts(tmp_path):
    for extra in ('description = "mine"\n', '[parameters.k]\ntype = "int"\ndefault = 6\n'
                  'doc = "k"\n'):
        bad = tmp_path / "manifest.toml"
        bad.write_text(f'family = "arith"\nblock = "drum"\nversion = "1.0.0"\n'
                       f'unit = "drum"\n{extra}')
        with pytest.raises(ManifestError, match="are the registry's"):
            manifest.read(bad)
    bad.write_text('family = "arith"\nblock = "x"\nversion = "1.0.0"\nunit = "nosuch"\n')
    with pytest.raises(ManifestError, match="nosuch"):
        manifest.read(bad)


def test_the_arith_generator_reads_the_manifests():
    from cores.arith import generate as arith

    for m in UNITS:
        assert arith.VERSIONS[m.block] == m.version
        core = arith.core_text(m.block)
        assert f"{m.description}; MyHDL-generated Verilog, width 8" in core
        assert f"cocotb_module: {m.test_module}" in core
        assert m.sim_description in " ".join(core.split())
        settings = m.testbench_settings(m.committed[1])
        assert "".join(f"{k}={v}" for k, v in settings.items()) in core
    m = manifest.load("arith", "drum")
    # a changed manifest changes the generator's output (version, committed widths)
    changed = manifest.Manifest(**{**m.__dict__, "version": "9.8.7",
                                   "committed": [{"width": 6, "signed": 0},
                                                 {"width": 6, "signed": 1}]})
    saved = arith.MANIFESTS["drum"]
    arith.MANIFESTS["drum"] = changed
    try:
        core = arith.core_text("drum")
        assert "name: approxnn:arith:drum:9.8.7" in core and "drum_k6_w6_s_reg" in core
        assert [str(s) for s, _ in arith.default_specs("drum")][::2] == [
            "drum:k=6,width=6,signed=0", "drum:k=6,width=6,signed=1"]
    finally:
        arith.MANIFESTS["drum"] = saved


TOPS = [m for m in MANIFESTS if m.core]


@pytest.mark.parametrize("m", TOPS, ids=[m.name for m in TOPS])
def test_a_tops_configuration_is_its_cores(m):
    """A Vivado-ready top's parameters are its core's: its configuration is validated by the
    core's manifest and checks, and the generator and the board targets read the top's
    manifest."""
    from cores.zynq import generate as zynq

    core = m.core_manifest()
    assert m.parameters == core.parameters and m.registers == core.registers
    assert zynq.TOPS[m.block]["params"] == core.validate(m.committed[0])
    assert zynq.TOPS[m.block]["build"] is zynq.BUILDERS[m.core]
    assert m.check(m.committed[0]) == core.check(m.committed[0])
    first = next(iter(core.parameters))
    with pytest.raises(ManifestError, match=f"^{first} must be "):
        m.validate({**m.committed[0], first: 3})
    text = (m.folder / f"{m.block}.core").read_text()
    assert f'description: "{m.description}"' in text
    assert m.sim_description in " ".join(text.split())
    assert f"toplevel: {m.top}" in text and f"cocotb_module: {m.test_module}" in text
    if m.waivers:
        assert (m.folder / "lint.vlt").read_bytes() == \
            (manifest.CORES_DIR / m.waivers).read_bytes()
    # the core's testbench settings of the top's configuration (the nightly runs through it)
    assert set(core.testbench_settings(m.committed[0])) == set(core.plusargs.values())
    from fpga.generate import top_verilog

    assert top_verilog(m.block)[0] == m.top


@pytest.mark.parametrize("m", SYSTEMS, ids=[m.name for m in SYSTEMS])
def test_a_board_systems_folders_are_its_manifests(m):
    """Every board a system's manifest commits has its generated folder and core at the
    manifest's version, with the manifest's title and accelerators (their Vivado-ready tops
    have manifests), and the board-target generator builds its systems from the manifests."""
    from fpga import boards
    from fpga import generate as fgen

    system = boards.SYSTEMS[m.block]
    assert system.title == m.description and len(system.accels) == len(m.accels) >= 1
    folders = []
    for params in m.committed:
        board = boards.BOARDS[m.check(params)["board"]]
        folder = fgen.folder(system, board)
        folders.append(folder)
        core = (fgen.FPGA_DIR / folder / f"{folder}.core").read_text()
        assert f"name: approxnn:fpga:{folder}:{m.version}\n" in core
        assert f"{m.description} on {board.name}" in core
        for a in m.accels:
            assert f"approxnn:zynq:{a['top']}" in core
            assert manifest.load("zynq", a["top"]).top  # the top has a manifest
    assert [fgen.folder(s, b) for s, b in fgen.targets() if s.key == m.block] == folders
    for a, acc in zip(m.accels, system.accels, strict=True):
        assert (acc.cell, acc.top, acc.offset) == (a["cell"], a["top"], a["offset"])
        assert [(d.name, d.mm2s, d.s2mm) for d in acc.dmas] == [
            (d["name"], d.get("mm2s"), d.get("s2mm")) for d in a["dmas"]]
    with pytest.raises(ValueError, match="not in fpga/boards.py BOARDS"):
        m.check({"board": "nosuch"})
