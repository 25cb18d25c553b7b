"""The block manifests against the code: every committed configuration is generated and its
Verilog committed, the defaults are the builders', every parameter is validated with a clear
one-line error by the manifest and refused by the block itself, the latencies are the cores',
the plusargs are settings the testbench reads, and the generator reads the manifests."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from cores.common import manifest
from cores.common.manifest import ManifestError

MANIFESTS = manifest.all_manifests()
IDS = [m.name for m in MANIFESTS]
VERIF = Path(__file__).resolve().parents[2] / "verif"


def _builder(m):
    """The block's own parameter checks (its MyHDL ``build``, or the SbS units' checks)."""
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
    if m.family == "cnn":
        from cores.cnn import generate as cnn

        return cnn.module_names(m.block)
    from cores.sbs import generate as sbs

    return [name for name, _ in sbs._modules(m.block)]


def _module_of(m, params) -> str:
    if m.family == "cnn":
        from cores.cnn import generate as cnn

        return cnn.build_block(m.block, **params)[1]
    from cores.sbs.spikegen import spikegen
    from cores.sbs.update import update

    full = m.validate(params)
    if m.block == "spikegen":
        return spikegen.module_name(full["n_max"], full["src_max"])
    return update.module_name(*full.values())


def test_every_block_of_the_generators_has_a_manifest():
    from cores.cnn import generate as cnn
    from cores.sbs import generate as sbs

    assert {m.block for m in MANIFESTS if m.family == "cnn"} == set(cnn.BLOCKS)
    assert {m.block for m in MANIFESTS if m.family == "sbs"} == set(sbs.CORES)


@pytest.mark.parametrize("m", MANIFESTS, ids=IDS)
def test_manifest_is_complete(m):
    assert m.version.count(".") == 2 and all(p.isdigit() for p in m.version.split("."))
    assert m.description and m.committed
    assert m.test_module and (VERIF.parent / (m.test_module.replace(".", "/") + ".py")).exists()
    assert m.registers is None or m.registers.exists(), m.registers
    assert set(m.plusargs) <= set(m.parameters)
    for i in m.targets:
        assert 0 < i < len(m.committed)


@pytest.mark.parametrize("m", MANIFESTS, ids=IDS)
def test_every_committed_configuration_is_generated(m):
    modules = []
    for params in m.committed:
        m.validate(params)  # within the manifest's ranges
        name = _module_of(m, params)
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


@pytest.mark.parametrize("m", [m for m in MANIFESTS if m.parameters],
                         ids=[m.name for m in MANIFESTS if m.parameters])
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


def test_the_generators_read_the_manifests():
    from cores.cnn import generate as cnn
    from cores.sbs import generate as sbs

    for m in MANIFESTS:
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
    assert len(outputs) == 7  # update and layer share cores/sbs/update/README.md
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
