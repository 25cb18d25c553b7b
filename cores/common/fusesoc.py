"""FuseSoC target bodies shared by the generators of every core family (arith, sbs, cnn).

Each body is the YAML of one target, indented by four spaces, with ``{top}`` for the toplevel
module; :func:`target` renders one under its name (two-space indent), as the ``.core`` files
lay their targets out.
"""

from __future__ import annotations

import textwrap

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

#: the fileset every sim target adds: a dependency on :data:`COCOTB_CORE`
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
