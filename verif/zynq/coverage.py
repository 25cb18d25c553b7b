"""Functional coverage of the Vivado-ready tops and the board systems (verif/zynq/testplan.yml).

* ``top.<top>.irq``: the interrupt logic of a top, sampled at the quiet points of its tests as
  (events set in IRQ_STATUS, events enabled in IRQ_ENABLE, the ``irq`` pin), each sample also
  checked (``irq`` must be ``IRQ_STATUS & IRQ_ENABLE != 0``). Bins (:func:`irq_bins`): after
  reset; the block's event (the engine's DONE, the layer unit's IDLE) recorded while masked,
  while only ERROR is enabled, and enabled; the event cleared with it still enabled; an error
  (with DONE on the engine, whose refused layer ends a run) with only ERROR enabled.
* ``sys.<system>.dma``: every DMA channel of a board system (its manifest,
  ``fpga/<system>.manifest.toml``) that ended a transfer with its interrupt delivered.
* the tops' and the program's own items, named in the testbenches.
"""

from __future__ import annotations

import logging

from cocotb_coverage.coverage import coverage_db

from verif.common.coverage import cover_point, coverage_holes, log_coverage

LOG = logging.getLogger("cocotb.coverage")


def irq_bin(status: int, enable: int, level: int, events: dict[str, int]) -> str:
    """``"<events set> en=<events enabled> irq=<0|1>"``, events in bit order, ``none`` for
    none."""
    def names(v):
        return "|".join(n for n, m in events.items() if v & m) or "none"

    return f"{names(status)} en={names(enable)} irq={int(level)}"


def irq_bins(event: str, error_ends_run: bool = True, error: str = "ERROR") -> list[str]:
    """The interrupt bins of a top whose block event is ``event`` (DONE, IDLE): the cases its
    interrupt test must reach. ``error_ends_run``: an error also sets ``event`` (the engine's
    refused layer ends a run: DONE and ERROR); else it comes alone (the layer unit's refused
    spike: ERROR, the unit never busy)."""
    err = f"{event}|{error}" if error_ends_run else error
    return ["none en=none irq=0", f"{event} en=none irq=0", f"{event} en={error} irq=0",
            f"{event} en={event} irq=1", f"none en={event} irq=0", f"{err} en={error} irq=1"]


async def irq_seen(top, name: str, events: dict[str, int], event: str,
                   error_ends_run: bool = True) -> None:
    """Read IRQ_STATUS and IRQ_ENABLE of ``top`` (a testbench object with ``read(name)`` and
    ``dut``), check the ``irq`` pin against them and sample ``name`` (:func:`irq_bins`)."""
    status = await top.read("IRQ_STATUS")
    enable = await top.read("IRQ_ENABLE")
    level = int(top.dut.irq.value)
    assert level == bool(status & enable), \
        f"irq={level} with IRQ_STATUS 0x{status:x} and IRQ_ENABLE 0x{enable:x}"
    cover_point(name, irq_bins(event, error_ends_run))(irq_bin(status, enable, level, events))


def dma_bins(system) -> list[str]:
    """The DMA channels of a board system (fpga.boards.System, from its manifest)."""
    return [f"{d.name}.{ch}" for a in system.accels for d in a.dmas
            for ch in ("mm2s", "s2mm") if getattr(d, ch)]


def dma_cover(system):
    """The sampler of ``sys.<system>.dma`` (give it to the DMA models: a channel's name when a
    transfer ends with its interrupt delivered)."""
    return cover_point(f"sys.{system.key}.dma", dma_bins(system))


def finish(names, goal=True) -> None:
    """Report ``names`` (log and ``APPROXNN_COVERAGE_FILE``); with ``goal``, fail on a hole."""
    holes = coverage_holes(coverage_db, names) if goal else []
    log_coverage(LOG, coverage_db, names, holes)
    assert not holes, f"coverage goal not met: {holes[0]}"
