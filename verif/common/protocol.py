"""Passive protocol checkers for the AXI4-Stream and AXI4-Lite ports of a DUT, and a watchdog.

:func:`attach` finds every ``<prefix>_tvalid`` (AXI4-Stream) and ``<prefix>_awvalid``
(AXI4-Lite) port of the toplevel and starts one coroutine that samples them all at every
rising clock edge (the values the flops see, as cocotbext-axi samples them). The first
violation fails the running test with an :class:`ProtocolError` that names the interface, the
signal, the cycle (rising edges since the checkers were attached) and the rule:

AXI4-Stream (every stream, driven by the DUT or by the testbench)

* ``tvalid-withdrawn``: tvalid falls before the beat was accepted (tvalid && !tready);
* ``tdata-unstable`` / ``tlast-unstable``: tdata or tlast changes while a beat waits;
* ``control-x``: tvalid, tready (or tlast of a valid beat) is X/Z after the reset;
* ``tdata-x``: X/Z in tdata of a beat that is accepted (4-state simulators only).

AXI4-Lite (one slave port)

* ``response-without-request``: bvalid / rvalid rises with no write / read outstanding, or
  more responses than requests (one response per request);
* ``response-withdrawn`` / ``response-unstable``: bvalid / rvalid falls, or bresp / rresp /
  rdata changes, before the response was accepted;
* ``rdata-x``: X/Z in rdata of an OKAY read;
* ``control-x``: a valid or ready signal is X/Z after the reset.

All rules are suspended while ``rst`` is high; a reset clears the outstanding requests.

The watchdog (same coroutine) fails a test whose interfaces saw no handshake at all for
``APPROXNN_WATCHDOG`` cycles (default 200,000), naming the interfaces with a beat or a request
waiting; a hang then reads "watchdog: ..." instead of a bare simulation time-out.

``APPROXNN_CHECKERS=0`` leaves the checkers off (for measuring their cost only).
"""

from __future__ import annotations

import os

import cocotb
from cocotb.triggers import RisingEdge

__all__ = ["ProtocolError", "WatchdogError", "attach", "active", "StreamRules", "LiteRules"]


class ProtocolError(AssertionError):
    """A protocol rule broken on a DUT port (the message names signal, cycle and rule)."""


class WatchdogError(AssertionError):
    """No handshake on any interface for too long (the message names what was waiting)."""


def _bit(handle):
    """0 / 1 of a 1-bit handle, or None when it is X/Z."""
    v = handle.value
    return int(v) if v.is_resolvable else None


class StreamRules:
    """The AXI4-Stream rules of one stream ``prefix`` (see the module docstring)."""

    kind = "AXI4-Stream"

    def __init__(self, dut, prefix: str):
        self.prefix = prefix
        self.tvalid = getattr(dut, f"{prefix}_tvalid")
        self.tready = getattr(dut, f"{prefix}_tready")
        self.tdata = getattr(dut, f"{prefix}_tdata")
        self.tlast = getattr(dut, f"{prefix}_tlast", None) if hasattr(
            dut, f"{prefix}_tlast") else None
        self.beats = 0
        self.clear()

    def clear(self):
        self.held = None  # (tdata, tlast) of a beat waiting for tready
        self.waiting = False

    def fail(self, cycle, signal, rule, detail=""):
        raise ProtocolError(f"{self.kind} protocol violation on {self.prefix}: signal "
                            f"{self.prefix}_{signal}, cycle {cycle}, rule {rule}"
                            + (f": {detail}" if detail else ""))

    def sample(self, cycle: int, checking_x: bool) -> bool:
        """Check one edge; True when a beat was accepted on it. tready is read only while
        tvalid is high (the cost of the checkers is in the signal reads)."""
        valid = _bit(self.tvalid)
        if valid is None:
            if checking_x:
                self.fail(cycle, "tvalid", "control-x", "X/Z after reset")
            self.clear()
            return False
        if self.held is not None:
            if not valid:
                self.fail(cycle, "tvalid", "tvalid-withdrawn",
                          "tvalid fell before the beat was accepted")
            data = self.tdata.value
            if str(data) != self.held[0]:
                self.fail(cycle, "tdata", "tdata-unstable",
                          f"{self.held[0]} -> {data} while tvalid && !tready")
            if self.tlast is not None and str(self.tlast.value) != self.held[1]:
                self.fail(cycle, "tlast", "tlast-unstable",
                          f"{self.held[1]} -> {self.tlast.value} while tvalid && !tready")
        if not valid:
            self.held = None
            return False
        ready = _bit(self.tready)
        if ready is None:
            if checking_x:
                self.fail(cycle, "tready", "control-x", "X/Z after reset")
            self.clear()
            return False
        if checking_x and self.tlast is not None and not self.tlast.value.is_resolvable:
            self.fail(cycle, "tlast", "control-x", "tlast X/Z on a valid beat")
        if ready:
            if checking_x and not self.tdata.value.is_resolvable:
                self.fail(cycle, "tdata", "tdata-x", f"accepted beat {self.tdata.value}")
            self.held = None
            self.beats += 1
            return True
        if self.held is None:
            self.held = (str(self.tdata.value),
                         str(self.tlast.value) if self.tlast is not None else "")
        return False

    def pending(self) -> str | None:
        return f"{self.prefix} (beat waiting for tready)" if self.held is not None else None


class LiteRules:
    """The AXI4-Lite rules of one slave port ``prefix`` (see the module docstring)."""

    kind = "AXI4-Lite"

    def __init__(self, dut, prefix: str):
        self.prefix = prefix
        g = lambda s: getattr(dut, f"{prefix}_{s}")  # noqa: E731
        self.awvalid, self.awready = g("awvalid"), g("awready")
        self.wvalid, self.wready = g("wvalid"), g("wready")
        self.bvalid, self.bready, self.bresp = g("bvalid"), g("bready"), g("bresp")
        self.arvalid, self.arready = g("arvalid"), g("arready")
        self.rvalid, self.rready = g("rvalid"), g("rready")
        self.rresp, self.rdata = g("rresp"), g("rdata")
        self.pairs = [("awvalid", self.awvalid, ("awready", self.awready)),
                      ("wvalid", self.wvalid, ("wready", self.wready)),
                      ("bvalid", self.bvalid, ("bready", self.bready)),
                      ("arvalid", self.arvalid, ("arready", self.arready)),
                      ("rvalid", self.rvalid, ("rready", self.rready))]
        self.requests = 0
        self.clear()

    def clear(self):
        self.aw = self.w = self.ar = 0  # requests accepted and not yet answered
        self.b_held = self.r_held = None

    def fail(self, cycle, signal, rule, detail=""):
        raise ProtocolError(f"{self.kind} protocol violation on {self.prefix}: signal "
                            f"{self.prefix}_{signal}, cycle {cycle}, rule {rule}"
                            + (f": {detail}" if detail else ""))

    def sample(self, cycle: int, checking_x: bool) -> bool:
        # the valids every edge, a ready only while its valid is high (reads cost time)
        v = {}
        for name, h, _ready in self.pairs:
            v[name] = _bit(h)
            if v[name] is None:
                if checking_x:
                    self.fail(cycle, name, "control-x", "X/Z after reset")
                self.clear()
                return False
        for name, _h, ready in self.pairs:
            rname = ready[0]
            v[rname] = _bit(ready[1]) if v[name] else 0
            if v[rname] is None:
                if checking_x:
                    self.fail(cycle, rname, "control-x", "X/Z after reset")
                self.clear()
                return False
        moved = False
        # responses: held until accepted, never without a request
        if self.b_held is not None:
            if not v["bvalid"]:
                self.fail(cycle, "bvalid", "response-withdrawn",
                          "bvalid fell before bready")
            if str(self.bresp.value) != self.b_held:
                self.fail(cycle, "bresp", "response-unstable",
                          f"{self.b_held} -> {self.bresp.value} before bready")
        if self.r_held is not None:
            if not v["rvalid"]:
                self.fail(cycle, "rvalid", "response-withdrawn",
                          "rvalid fell before rready")
            if (str(self.rresp.value), str(self.rdata.value)) != self.r_held:
                self.fail(cycle, "rresp/rdata", "response-unstable",
                          f"{self.r_held} -> {(str(self.rresp.value), str(self.rdata.value))}"
                          " before rready")
        if v["bvalid"]:
            if min(self.aw, self.w) < 1:
                self.fail(cycle, "bvalid", "response-without-request",
                          "write response with no write outstanding")
            if v["bready"]:
                self.aw -= 1
                self.w -= 1
                self.b_held = None
                moved = True
            elif self.b_held is None:
                self.b_held = str(self.bresp.value)
        else:
            self.b_held = None
        if v["rvalid"]:
            if self.ar < 1:
                self.fail(cycle, "rvalid", "response-without-request",
                          "read response with no read outstanding")
            if v["rready"]:
                if checking_x and self.rresp.value.is_resolvable and \
                        int(self.rresp.value) == 0 and not self.rdata.value.is_resolvable:
                    self.fail(cycle, "rdata", "rdata-x", f"OKAY read of {self.rdata.value}")
                self.ar -= 1
                self.r_held = None
                moved = True
            elif self.r_held is None:
                self.r_held = (str(self.rresp.value), str(self.rdata.value))
        else:
            self.r_held = None
        # requests accepted on this edge
        if v["awvalid"] and v["awready"]:
            self.aw += 1
            self.requests += 1
            moved = True
        if v["wvalid"] and v["wready"]:
            self.w += 1
            moved = True
        if v["arvalid"] and v["arready"]:
            self.ar += 1
            self.requests += 1
            moved = True
        return moved

    def pending(self) -> str | None:
        if self.aw or self.w or self.ar:
            return f"{self.prefix} ({self.aw} write(s), {self.ar} read(s) unanswered)"
        return None


class Checkers:
    """All checkers of one DUT, run by one coroutine (one sample per rising edge)."""

    def __init__(self, dut, clk, rst, rules, watchdog: int, rst_active_low: bool = False):
        self.dut, self.clk, self.rst, self.rules = dut, clk, rst, rules
        self.rst_active_low = rst_active_low
        self.watchdog = watchdog
        self.cycle = 0
        self.task = None

    def names(self) -> list[str]:
        return [f"{r.kind} {r.prefix}" for r in self.rules]

    def beats(self, prefix: str) -> int:
        """Beats accepted so far on the stream ``prefix`` (0 for a port the DUT lacks)."""
        for r in self.rules:
            if r.prefix == prefix and isinstance(r, StreamRules):
                return r.beats
        return 0

    async def run(self):
        checking_x = False
        seen_reset = False
        quiet = 0
        while True:
            await RisingEdge(self.clk)
            self.cycle += 1
            rst = _bit(self.rst) if self.rst is not None else 0
            if rst is not None and self.rst_active_low and self.rst is not None:
                rst = 1 - rst
            if rst is None or rst:
                seen_reset = seen_reset or rst == 1
                checking_x = False
                for r in self.rules:
                    r.clear()
                quiet = 0
                continue
            checking_x = seen_reset or self.rst is None
            moved = False
            for r in self.rules:
                moved |= r.sample(self.cycle, checking_x)
            quiet = 0 if moved else quiet + 1
            if self.watchdog and quiet >= self.watchdog:
                waiting = ", ".join(w for w in (r.pending() for r in self.rules) if w) or \
                    "nothing (the DUT stalled, or the test waits for output that never came)"
                raise WatchdogError(
                    f"watchdog: no handshake on any interface for {quiet} cycles (cycle "
                    f"{self.cycle}); waiting: {waiting}")


_current: Checkers | None = None


def discover(dut) -> list:
    """Rules for every AXI4-Stream and AXI4-Lite port of ``dut`` (by port name)."""
    rules = []
    names = sorted({h._name for h in dut})  # noqa: SLF001 - cocotb has no public name list
    for n in names:
        if n.endswith("_tvalid"):
            p = n[: -len("_tvalid")]
            if hasattr(dut, f"{p}_tready") and hasattr(dut, f"{p}_tdata"):
                rules.append(StreamRules(dut, p))
        elif n.endswith("_awvalid"):
            rules.append(LiteRules(dut, n[: -len("_awvalid")]))
    return rules


def drive_idle(dut) -> None:
    """Drive the testbench side of every AXI port idle (valids and readies 0) until an agent
    takes it over: no X on the control signals once the reset is released."""
    for r in discover(dut):
        if isinstance(r, StreamRules):
            sig = r.tvalid if r.prefix.startswith("s_") else r.tready
            sig.value = 0
        else:
            for sig in (r.awvalid, r.wvalid, r.bready, r.arvalid, r.rready):
                sig.value = 0


def attach(dut, watchdog: int | None = None, clk=None, rst=None,
           rst_active_low: bool = False, exclude: tuple = ()) -> Checkers | None:
    """Start the protocol checkers and the watchdog on every AXI port of ``dut`` (once per
    test: a second call while they run returns the running ones). None when the DUT has no
    AXI port or ``APPROXNN_CHECKERS=0``. ``clk`` / ``rst``: default ``dut.clk`` and
    ``dut.rst`` (active high); a Vivado-style top passes ``dut.aclk``, ``dut.aresetn`` and
    ``rst_active_low=True``. ``exclude``: port prefixes left unchecked (a bus between two
    testbench models, e.g. the system simulations' ``ddr`` AXI4 bus)."""
    global _current
    if os.environ.get("APPROXNN_CHECKERS", "1") == "0":
        return None
    if _current is not None and _current.dut is dut and _current.task is not None \
            and not _current.task.done():
        return _current
    rules = [r for r in discover(dut) if not r.prefix.startswith(tuple(exclude))]
    if not rules:
        return None
    if watchdog is None:
        watchdog = int(os.environ.get("APPROXNN_WATCHDOG", "200000"))
    chk = Checkers(dut, clk if clk is not None else dut.clk,
                   rst if rst is not None else getattr(dut, "rst", None), rules, watchdog,
                   rst_active_low)
    chk.task = cocotb.start_soon(chk.run())
    _current = chk
    dut._log.info(f"protocol checkers on {', '.join(chk.names())}; watchdog {watchdog} cycles")
    return chk


def active() -> Checkers | None:
    """The checkers of the running test, if attached."""
    if _current is not None and _current.task is not None and not _current.task.done():
        return _current
    return None
