"""README of each board-target folder (written by ``python -m fpga.generate``)."""

from __future__ import annotations

from fpga.boards import DMA_BASE, DMA_STRIDE, VIVADO_VERSION, Board, System

RUN = {
    "cnn": """\
On the host (the repository), bundle the driver, its register model and test vectors with
the golden model's outputs:

    mkdir -p pynq/approxnn_host
    cp host/approxnn_host/*.py cores/common/regmap.py cores/cnn/engine/regs/cnn_engine.json \\
       pynq/approxnn_host/
    python -m approxnn_host.vectors pynq/vectors.npz --layers 8
    cp {build}/{design}.bit {build}/{design}.hwh pynq/
    scp -r pynq xilinx@<board>:approxnn

On the board (PYNQ 3.0, as root for the overlay):

    cd ~/approxnn && sudo python3 -m approxnn_host.selftest {design}.bit vectors.npz

It loads the overlay, runs every layer through `approxnn_host.cnn.CnnEngine` (the engine, its
two DMAs) and prints, per layer, whether the output equals the golden model's bit for bit,
the engine's cycles and the wall time. In a script: `CnnEngine(Overlay("{design}.bit"),
allocate).run_layer(layer)`.

**Run a network.** Compile it on the host into an engine program (layer descriptors, packed
weights, buffer plan, runs split to the engine's channel table and buffers) and run the
program on the board with the same driver; Add and Reshape run on the ARM cores, with
TFLite's reference kernels (`tflite.py`):

    approxnn cnn import model.tflite -o model          # int8 .tflite -> model.json/.npz
    approxnn cnn compile model -o pynq/prog             # or: approxnn cnn compile mnist -o ...
    cp refmodels/cnn/tflite.py pynq/approxnn_host/
    python -c "import numpy as np; np.save('pynq/x.npy', np.zeros((20, 28, 28, 1), np.int8))"
    scp -r pynq xilinx@<board>:approxnn
    # on the board:
    cd ~/approxnn && sudo python3 -m approxnn_host.program {design}.bit prog.json x.npy y.npy

`x.npy` holds int8 inputs (N, H, W, C) as the model's input tensor; `y.npy` gets the int8
outputs, one row per input, and the engine cycles per op are printed. From a checkout of
the repository on the board (`export PYTHONPATH=$PWD:$PWD/scripts`),
`python3 -m approxnn cnn run model.tflite --backend pynq --overlay {design}.bit --images 20`
does the same and compares with the golden model (and LiteRT's reference interpreter where
`ai-edge-litert` is installed). The same program runs in the system simulation here:
`approxnn cnn run model.tflite --backend sim --images 20`.""",
    "sbs": """\
On the host (the repository), bundle the driver and its register model:

    mkdir -p pynq/approxnn_host
    cp host/approxnn_host/*.py cores/common/regmap.py cores/sbs/update/regs/sbs_layer.json \\
       pynq/approxnn_host/
    cp {build}/{design}.bit {build}/{design}.hwh pynq/
    scp -r pynq xilinx@<board>:approxnn

On the board (PYNQ 3.0, as root for the overlay), a layer in Python:

    cd ~/approxnn && sudo python3
    >>> from pynq import Overlay, allocate
    >>> from approxnn_host.sbs import SbsLayer
    >>> unit = SbsLayer(Overlay("{design}.bit"), allocate)
    >>> unit.configure(n_h, n_ip, n_rows, c1)   # c1 = HFixed().eps_constants(eps)[0]
    >>> unit.load_weights(codes); unit.load_h(h0); unit.spikes(pairs); h = unit.dump()

`codes[row][i]` are the layer's weight codes (`refmodels.sbs.formats`), `h0[ip][i]` the
integer latents, `pairs` the `(ip, row)` of every spike in order; `dump()` returns the h of
every IP, equal to `refmodels.sbs.model.update_fixed_loop` applied spike by spike (checked in
the system simulation, `verif/zynq/cocotb_system_sbs.py`).

**Run a network.** `approxnn_host.sbs_network.run` runs a stored SbS network layer after
layer through this driver, the spikes drawn on the ARM cores exactly as the golden model
draws them (it needs the repository's `refmodels.sbs`: run it from a checkout of the
repository on the board, `export PYTHONPATH=$PWD:$PWD/scripts`). On the board, and here in
the system simulation:

    sudo -E python3 -m approxnn sbs run mnist --backend pynq --overlay {design}.bit --T 8
    python -m approxnn sbs run mnist --backend sim --T 8 --images 1   # the system simulation

Each layer's final h is compared with the golden model bit for bit, and the cost per layer
printed.""",
}


def board_readme(system: System, board: Board) -> str:
    from fpga.generate import folder, overlay_name  # noqa: PLC0415

    design = overlay_name(system)
    name = folder(system, board)
    core = f"approxnn:fpga:{name}"
    build = f"build/approxnn_fpga_{name}_0.1.0/vivado"
    rows = []
    for a in system.accels:
        rows.append(f"| `{a.cell}` | 0x{a.offset:08X} | control registers "
                    f"([`cores/zynq/{a.top}`](../../cores/zynq/README.md)) |")
    irqs = [f"`{a.cell}/irq`" for a in system.accels]
    i = 0
    for a in system.accels:
        for d in a.dmas:
            chans = " and ".join(x for x in (d.mm2s and f"MM2S -> `{d.mm2s}`",
                                              d.s2mm and f"`{d.s2mm}` -> S2MM") if x)
            rows.append(f"| `{d.name}` | 0x{DMA_BASE + i * DMA_STRIDE:08X} | AXI DMA, simple "
                        f"mode: {chans} |")
            irqs += [f"`{d.name}/{c}_introut`" for c, s in (("mm2s", d.mm2s), ("s2mm", d.s2mm))
                     if s]
            i += 1
    if board.board_part:
        preset = (f"The processing system takes the board preset of `{board.board_part}` "
                  "(shipped with Vivado).")
    else:
        preset = ("Vivado does not ship this board's files: the block design sets the "
                  "processing system from the board's preset values (DDR3 device and bus "
                  "width, input clock, MIO peripherals) listed in `fpga/boards.py`.")
    part_desc = "part, board part" if board.board_part else "part"
    run = RUN[system.key].format(build=build, design=design)
    return f"""\
# `{name}`: {system.title} on {board.name}

Generated by `python -m fpga.generate` from [`../boards.py`](../boards.py); do not edit.
Part `{board.part}`. {preset} Fabric clock FCLK_CLK0: {system.fclk_mhz} MHz.

| file | what |
|---|---|
| `{name}.core` | FuseSoC core, target `vivado` (edalize Vivado flow: {part_desc}) |
| `{design}_bd.tcl` | block design (`tclSource`, `write_bd_tcl`-style), Vivado {VIVADO_VERSION} |
| `{design}.xdc` | `led0` ({board.led[0]}): lit while the accelerator's interrupt is pending |
| `pynq_outputs.tcl` | post-bitstream hook: `{design}.bit` and `{design}.hwh` side by side |

Address map (GP0):

| cell | base | |
|---|---|---|
{chr(10).join(rows)}

IRQ_F2P, bit 0 upwards: {", ".join(irqs)}.

## Build the bitstream (Vivado {VIVADO_VERSION})

From the repository root, with Vivado {VIVADO_VERSION} on the PATH (`source
/tools/Xilinx/Vivado/{VIVADO_VERSION}/settings64.sh`):

    fusesoc run --target=vivado {core}

This writes `{build}/{design}.bit` and `{build}/{design}.hwh`, the pair a PYNQ `Overlay`
loads (and edalize's own copy of the bitstream under the project's name). The project alone,
without running Vivado: `fusesoc run --setup --target=vivado {core}`; `make -C {build}` then
builds it.

## Copy to a PYNQ image and run

{run}

## Verified here, and what needs a board

Verified without Vivado: the accelerator top in cocotb, bit for bit against the golden model
(`verif/zynq`); the system's programmable logic with the processing system, DDR and the AXI
DMAs as bus models (the host driver runs there unchanged on a PYNQ-API shim); the
block-design script run by `tclsh` against a stub of the Vivado commands, every cell, pin,
interface and width checked against the Verilog top (`python -m fpga.bdcheck`);
`fusesoc run --setup` of this target; Yosys synthesis of the accelerator for the xc7z020
([`../utilisation.md`](../utilisation.md)). Not verified here: the Vivado run itself (IP
versions, block-design validation, the processing-system preset of this board), timing
closure at {system.fclk_mhz} MHz, and measured power.
"""
