"""Regenerate the committed Verilog and FuseSoC core files of the CNN tensor-processor blocks.

    python -m cores.cnn.generate            # rewrite cores/cnn/<block>/rtl/*.v and <block>.core
    python -m cores.cnn.generate --check    # compare only; exit 1 and list the files that differ
    python -m cores.cnn.generate --out DIR  # write the tree under DIR instead

Each block commits the Verilog of a few configurations (:data:`COMMITTED`); the first is the
default configuration named by the ``.core`` targets. All ``.core`` files come from the template
below.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from cores.common.fusesoc import (
    SIM_FILESET,
    config_targets,
    parameter_decls,
    sim_targets,
    synth_targets,
    variant_core,
)

CNN_DIR = Path(__file__).resolve().parent


def _requant(**params):
    from cores.cnn.requant.requant import build  # noqa: PLC0415

    return build(**params)


def _mac(**params):
    from cores.cnn.mac.mac import build  # noqa: PLC0415

    return build(**params)


def _engine(**params):
    from cores.cnn.engine.engine import build  # noqa: PLC0415

    return build(**params)


def _hf6mac(**params):
    from cores.cnn.hf6mac.hf6mac import build  # noqa: PLC0415

    return build(**params)


def _hf6mac_env(params):
    from cores.cnn.hf6mac.hf6mac import normalise  # noqa: PLC0415

    return {"APPROXNN_HF6_LANES": normalise(**params)["lanes"]}


def _pool(**params):
    from cores.cnn.pool.pool import build  # noqa: PLC0415

    if params:
        raise ValueError(f"the pooling unit has no parameters, got {sorted(params)}")
    return build()


def _engine_env(params):
    from cores.cnn.engine.engine import check_params  # noqa: PLC0415

    p = check_params(**params)
    return {"APPROXNN_ENGINE_LANES": p["lanes"], "APPROXNN_ENGINE_MUL": p["mul"]}


def _mac_env(params):
    from cores.cnn.mac.mac import normalise  # noqa: PLC0415

    p = normalise(**params)
    return {"APPROXNN_MAC_LANES": p["lanes"], "APPROXNN_MAC_MUL": p["mul"]}


#: block -> builder, test module, output port the broken variant corrupts, plusargs for sim
BLOCKS = {
    "requant": {
        "build": _requant,
        "test_module": "verif.cnn.cocotb_requant",
        "out_port": "y",
        "env": lambda params: {},
        "description": "TFLite int8 requantisation: acc + bias, double-rounding "
        "MultiplyByQuantizedMultiplier, output zero point, clamp; one value per cycle",
    },
    "mac": {
        "build": _mac,
        "test_module": "verif.cnn.cocotb_mac",
        "out_port": "out_acc",
        "env": _mac_env,
        "description": "MAC array: P lanes of int8 x int8 products (exact, DSP48E1-packed, or an "
        "approximate unit of cores/arith) accumulated in int32 with TFLite zero-point handling",
    },
    "engine": {
        "build": _engine,
        "test_module": "verif.cnn.cocotb_engine",
        "out_port": "m_axis_y_tdata",
        "beat": "m_axis_y_tvalid && m_axis_y_tready",
        "env": _engine_env,
        "description": "CNN layer engine: Conv2D / DepthwiseConv2D / FullyConnected / MaxPool / "
        "AveragePool streamed over AXI4-Stream, AXI4-Lite register file; int8 (MAC array, "
        "requantisation unit, pooling unit) or Hybrid-Float6 (HF6 MAC array, float32 "
        "activations)",
    },
    "pool": {
        "build": _pool,
        "test_module": "verif.cnn.cocotb_pool",
        "out_port": "y",
        "env": lambda params: {},
        "description": "TFLite int8 MaxPool / AveragePool of one window: in-image values one per "
        "cycle, max or rounded average (restoring divider), clamp",
    },
    "hf6mac": {
        "build": _hf6mac,
        "test_module": "verif.cnn.cocotb_hf6mac",
        "out_port": "out_y",
        "env": _hf6mac_env,
        "description": "Hybrid-Float6 MAC array: float32 activations times HF6 (E4M1, bias 7) "
        "weights, 64-bit Q.23 accumulation, HF6 bias, float32 result (refmodels.cnn.minifloat)",
    },
}

#: the cocotb tests of an engine with several multiplier units (``mul`` a list)
HETERO_TEST_MODULE = "verif.cnn.cocotb_engine_hetero"

#: version of each block's core (semantic versioning: docs/architecture.md)
VERSIONS = {"requant": "1.0.0", "mac": "1.0.0", "engine": "1.1.0", "pool": "1.0.0",
            "hf6mac": "1.0.0"}

#: the engine sized for the stored MNIST LeNet (refmodels/cnn/networks/mnist*): its largest input
#: map is 3,456 activations (pool1 reads conv1's 24x24x6 output) and its largest weight load
#: 2,048 words of 8 lanes (fc1: 256 inputs, a run of 64 output channels), so ibuf = wbuf = 4096
#: (the buffers of the measured MNIST figures in cores/cnn/README.md and of the nightly MNIST
#: runs); cores/cnn/test_generate.py checks that every layer of the stored networks fits.
MNIST_ENGINE = {"lanes": 8, "mul": "int8", "ibuf": 4096, "wbuf": 4096, "cmax": 64}

#: FuseSoC targets of other committed configurations: block -> {index in COMMITTED: (tag, what)}
#: gives lint_<tag>, sim_<tag> and synth_<tag>
CONFIG_TARGETS = {"engine": {1: ("hf6", "the Hybrid-Float6 build (P = 4)"),
                             2: ("mnist", "the MNIST-sized configuration (P = 8, 4,096 "
                                 "activations and weight words, 64 channels)")}}

#: configurations whose Verilog is committed, per block (the first is the default)
COMMITTED = {
    "requant": [{}],
    "mac": [
        {"lanes": 8, "mul": "int8"},
        {"lanes": 8, "mul": "drum:k=4,signed=1"},
    ],
    "engine": [{"lanes": 4, "mul": "int8"}, {"lanes": 4, "mul": "hf6"}, MNIST_ENGINE],
    "hf6mac": [{"lanes": 4}],
    "pool": [{}],
}


def build_block(block: str, **params):
    """(factory, module name) of ``block`` with ``params``; bad parameters raise ValueError."""
    if block not in BLOCKS:
        raise ValueError(f"unknown CNN block {block!r}; valid: {', '.join(BLOCKS)}")
    return BLOCKS[block]["build"](**params)


CORE_TEMPLATE = """\
CAPI=2:
# Generated by `python -m cores.cnn.generate` from the template in cores/cnn/generate.py.
# Do not edit: change the template and regenerate.
name: approxnn:cnn:{block}:{version}
description: "{description}"

filesets:
  rtl:
    files:
{files}
    file_type: verilogSource
{sim_fileset}
targets:
  default:
    filesets: [rtl]
    toplevel: {top}

  lint:
    description: Verilator lint (-Wall) of the default configuration
    filesets: [rtl, cocotb]
    toplevel: {top}
    flow: lint
    flow_options:
      tool: verilator
      verilator_options: [-Wall]

{synth_targets}
{sim_targets}
{config_targets}{parameter_decls}"""

SIM_DESCRIPTION = ("pyuvm/cocotb verification (verif/cnn) of the default configuration "
                   "against the golden model (refmodels.cnn)")


def block_parameters(block: str) -> list[str]:
    """Names of the generation parameters of ``block`` (the arguments of its ``build``)."""
    import importlib  # noqa: PLC0415
    import inspect  # noqa: PLC0415

    if block not in BLOCKS:
        raise ValueError(f"unknown CNN block {block!r}; valid: {', '.join(BLOCKS)}")
    build = importlib.import_module(f"cores.cnn.{block}.{block}").build
    return list(inspect.signature(build).parameters)


def variant(block: str, params: dict, out_dir: Path, vlnv: str, request: str) -> list[Path]:
    """One configuration of ``block`` for the FuseSoC generator (cores/common/fusesoc_gen.py):
    its Verilog under ``out_dir/rtl`` and ``out_dir/<block>.core`` named ``vlnv``. Bad
    parameters raise ValueError naming the parameter and its valid values (the blocks' own
    checks, as for the committed configurations)."""
    from cores.cnn.common import convert  # noqa: PLC0415

    valid = block_parameters(block)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"cnn:{block} has no parameter {', '.join(unknown)}; valid: "
                         f"{', '.join(valid) or 'none'}")
    factory, name = build_block(block, **params)
    out_dir = Path(out_dir)
    rtl = convert(factory, name, out_dir / "rtl")
    info = BLOCKS[block]
    plusargs = info["env"](params)
    sim_module = info["test_module"]
    if "+" in str(plusargs.get("APPROXNN_ENGINE_MUL", "")):  # several units, MODE.MUL
        sim_module = HETERO_TEST_MODULE
    core = out_dir / f"{block}.core"
    core.write_text(variant_core(
        vlnv=vlnv, request=request, description=f"{info['description']}; {name}",
        files=[f"rtl/{rtl.name}"], top=name, sim_top=name, sim_module=sim_module,
        plusargs=plusargs))
    return [rtl, core]


def module_names(block: str) -> list[str]:
    return [build_block(block, **p)[1] for p in COMMITTED[block]]


def rtl_files(block: str) -> list[str]:
    return [f"rtl/{m}.v" for m in module_names(block)]


def core_text(block: str) -> str:
    info = BLOCKS[block]
    plusargs = info["env"](COMMITTED[block][0])
    return CORE_TEMPLATE.format(
        block=block,
        version=VERSIONS[block],
        description=info["description"].replace('"', "'"),
        files="\n".join(f"      - {f}" for f in rtl_files(block)),
        top=module_names(block)[0],
        synth_targets=synth_targets(module_names(block)[0]),
        sim_fileset=SIM_FILESET,
        sim_targets=sim_targets(module_names(block)[0], info["test_module"], SIM_DESCRIPTION,
                                [f"{k}={v}" for k, v in plusargs.items()]),
        config_targets="".join(
            config_targets(tag, module_names(block)[i], what, sim_module=info["test_module"],
                           plusargs=info["env"](COMMITTED[block][i])) + "\n"
            for i, (tag, what) in CONFIG_TARGETS.get(block, {}).items()),
        parameter_decls=parameter_decls(plusargs),
    )


def generate(root: Path, blocks=tuple(BLOCKS)) -> list[Path]:
    from cores.cnn.common import convert  # noqa: PLC0415

    written = []
    for block in blocks:
        bdir = Path(root) / block
        for params in COMMITTED[block]:
            factory, name = build_block(block, **params)
            written.append(convert(factory, name, bdir / "rtl"))
        core = bdir / f"{block}.core"
        core.write_text(core_text(block))
        written.append(core)
    return written


def generated_files(block: str) -> list[str]:
    return [*rtl_files(block), f"{block}.core"]


def compare(fresh_root: Path, committed_root: Path = CNN_DIR, blocks=tuple(BLOCKS)) -> list[str]:
    problems = []
    for block in blocks:
        expected = set(generated_files(block))
        for rel in sorted(expected):
            new = Path(fresh_root) / block / rel
            old = Path(committed_root) / block / rel
            if not old.exists():
                problems.append(f"missing: cores/cnn/{block}/{rel}")
            elif old.read_bytes() != new.read_bytes():
                problems.append(f"differs: cores/cnn/{block}/{rel}")
        rtl_dir = Path(committed_root) / block / "rtl"
        if rtl_dir.is_dir():
            for f in sorted(rtl_dir.iterdir()):
                if f"rtl/{f.name}" not in expected:
                    problems.append(f"stale (not generated): cores/cnn/{block}/rtl/{f.name}")
    return problems


def check(blocks=tuple(BLOCKS)) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="cnn_gen_") as tmp:
        generate(Path(tmp), blocks)
        return compare(Path(tmp), blocks=blocks)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("blocks", nargs="*", help=f"blocks (default all: {', '.join(BLOCKS)})")
    ap.add_argument("--check", action="store_true", help="compare with the committed files")
    ap.add_argument("--out", type=Path, help="write the tree under this folder")
    args = ap.parse_args(argv)
    blocks = tuple(args.blocks) or tuple(BLOCKS)
    bad = [b for b in blocks if b not in BLOCKS]
    if bad:
        ap.error(f"unknown block(s) {', '.join(bad)}; valid: {', '.join(BLOCKS)}")
    if args.check:
        problems = check(blocks)
        for p in problems:
            print(p)
        print("cores/cnn: up to date" if not problems else f"{len(problems)} file(s) differ; "
              "regenerate with `python -m cores.cnn.generate`")
        return 1 if problems else 0
    for path in generate(args.out or CNN_DIR, blocks):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
