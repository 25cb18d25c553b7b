"""The shared stream frame checker (cores/common/stream.py), simulated in MyHDL."""

from __future__ import annotations

import itertools

from myhdl import Signal, block, delay, instance

from cores.common.stream import frame_check


def _truth_table(with_ok: bool) -> list[tuple]:
    fire, tlast, last = (Signal(bool(0)) for _ in range(3))
    ok = Signal(bool(0)) if with_ok else None
    short, long = Signal(bool(0)), Signal(bool(0))
    rows = []

    @block
    def bench():
        dut = frame_check(fire, tlast, last, ok, short, long)

        @instance
        def drive():
            for f, t, la in itertools.product((0, 1), repeat=3):
                fire.next, tlast.next, last.next = bool(f), bool(t), bool(la)
                yield delay(1)
                rows.append((f, t, la, int(ok) if with_ok else None, int(short), int(long)))

        return dut, drive

    tb = bench()
    tb.run_sim(quiet=True)
    tb.quit_sim()
    return rows


def test_frame_check_truth_table():
    for f, t, la, ok, short, long in _truth_table(True):
        assert ok == (f and t and la), (f, t, la)
        assert short == (f and t and not la), (f, t, la)  # tlast before the last beat
        assert long == (f and la and not t), (f, t, la)  # the last beat without tlast
        assert ok + short + long <= 1  # one verdict per beat at most


def test_frame_check_without_ok_flags_the_same_errors():
    full = [(r[4], r[5]) for r in _truth_table(True)]
    errors_only = [(r[4], r[5]) for r in _truth_table(False)]
    assert errors_only == full
    assert sum(s for s, _ in full) == 1 and sum(lo for _, lo in full) == 1
