"""FuseSoC target bodies shared by the generators of every core family (arith, sbs, cnn).

Each body is the YAML of one target, indented by four spaces, with ``{top}`` for the toplevel
module; :func:`target` renders one under its name (two-space indent), as the ``.core`` files
lay their targets out.
"""

from __future__ import annotations

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
