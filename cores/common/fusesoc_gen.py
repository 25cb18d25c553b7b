"""FuseSoC generator ``approxnn_myhdl`` (core ``approxnn:gen:myhdl``, cores/common/gen.core): any
configuration of an approxnn core, converted from MyHDL when FuseSoC sets up a design.

A core that depends on ``approxnn:gen:myhdl`` and lists a ``generate:`` entry such as

    generate:
      engine8:
        generator: approxnn_myhdl
        parameters: {core: cnn:engine, lanes: 8, mul: "drum:k=4,width=8,signed=1", wbuf: 1024}

gets a generated core whose ``default`` target exports the Verilog, the lint waivers (SbS),
the cocotb support (cores/common/cocotb.mk) and the testbench plusargs of that configuration.
``core`` names what to build (``approxnn:`` may be written before it):

- ``cnn:<block>`` (requant, mac, engine, pool, hf6mac) with the block's ``build`` arguments
  (engine: lanes, mul, ibuf, wbuf, cmax);
- ``sbs:<core>`` (update, layer, spikegen) with lanes, n_max, weights, ip_max, rows_max,
  src_max as the core takes them;
- ``arith:<unit>`` with the unit's parameters (k, width, signed, ...), or ``arith`` with
  ``unit: "drum:k=4,width=8,signed=1"``.

The parameters are checked by the same code as the committed configurations
(``cores/*/generate.py`` :func:`variant`); a bad one ends the generator with one line naming
the parameter and its valid values, and FuseSoC removes the half-made output. The module name
follows each family's naming rule (e.g. ``cnn_engine_p8_drum_k4_w8_s_i1024_w1024_c16``) and is
printed; the instantiating core names it as its ``toplevel``.

FuseSoC runs ``python3 fusesoc_gen.py <input.yml>`` in an empty folder. The repository this
file sits in is put first on ``sys.path``; when ``python3`` lacks MyHDL the repository's own
``.venv`` interpreter is used instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GENERATOR = "approxnn_myhdl"


def _fail(message: str) -> None:
    print(f"{GENERATOR}: {message}", file=sys.stderr)
    sys.exit(1)


def _ensure_environment() -> None:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        import myhdl  # noqa: F401, PLC0415
        import yaml  # noqa: F401, PLC0415
    except ImportError:
        venv = REPO / ".venv" / "bin" / "python"
        if venv.exists() and Path(sys.executable).resolve() != venv.resolve():
            os.execv(str(venv), [str(venv), __file__, *sys.argv[1:]])
        _fail(f"MyHDL and PyYAML are needed but {sys.executable} has not got them: run "
              "scripts/bootstrap.sh and put the project's .venv/bin first on PATH")


def split_core(text) -> tuple[str, str]:
    """``"approxnn:cnn:engine"`` / ``"cnn:engine"`` -> ``("cnn", "engine")``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("parameter core is missing: e.g. core: cnn:engine, sbs:layer, "
                         "arith:drum")
    text = text.strip()
    if text.startswith("approxnn:"):
        text = text[len("approxnn:"):]
    family, _, name = text.partition(":")
    if family not in ("arith", "cnn", "sbs"):
        raise ValueError(f"core {text!r}: the family must be arith, cnn or sbs "
                         "(e.g. cnn:engine, sbs:layer, arith:drum)")
    if family != "arith" and not name:
        raise ValueError(f"core {text!r} names no block: e.g. cnn:engine or sbs:layer")
    return family, name


def generate(config: dict, out_dir: Path) -> list[Path]:
    """Run one generator request (the YAML FuseSoC writes, as a dict) into ``out_dir``."""
    if not isinstance(config, dict) or "vlnv" not in config:
        raise ValueError("the input is not a FuseSoC generator request (no vlnv)")
    params = dict(config.get("parameters") or {})
    family, name = split_core(params.pop("core", None))
    request = f"core={family}{':' + name if name else ''}" + "".join(
        f", {k}={v}" for k, v in params.items())
    if family == "cnn":
        from cores.cnn.generate import variant  # noqa: PLC0415
    elif family == "sbs":
        from cores.sbs.generate import variant  # noqa: PLC0415
    else:
        from cores.arith.generate import variant  # noqa: PLC0415

        if not name:
            name = params.pop("unit", None)
            if not isinstance(name, str) or not name.strip():
                raise ValueError("core arith needs a unit: core: arith:drum, or unit: "
                                 "drum:k=4,width=8,signed=1")
    written = variant(name, params, out_dir, config["vlnv"], request)
    import shutil  # noqa: PLC0415

    from cores.common.fusesoc import COCOTB_MK  # noqa: PLC0415

    shutil.copyfile(COCOTB_MK, Path(out_dir) / COCOTB_MK.name)
    return [*written, Path(out_dir) / COCOTB_MK.name]


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        _fail("usage: fusesoc_gen.py INPUT.yml (FuseSoC runs it with its generator request)")
    _ensure_environment()
    import yaml  # noqa: PLC0415

    try:
        with open(args[0]) as f:
            config = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        _fail(f"cannot read the generator request {args[0]}: {exc}")
    try:
        written = generate(config, Path.cwd())
    except ValueError as exc:
        _fail(str(exc).splitlines()[0])
    top = next(p for p in written if p.suffix == ".v").stem
    print(f"{GENERATOR}: {config['vlnv']}: module {top} ({len(written)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
