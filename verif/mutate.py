"""Mutation testing of the MyHDL sources: does the verification notice a plausible design
error?

    python -m verif.mutate --list                  # the catalogue, per block
    python -m verif.mutate                         # every mutant (long: nightly tier)
    python -m verif.mutate --block cnn_engine --jobs 2
    python -m verif.mutate --only axil_partial_strobe_writes,engine_room_ignores_in_flight

Each mutant replaces one piece of text (found exactly once) in one MyHDL source. It is applied
in a temporary copy of the repository (the files git tracks), and the tests of its block
(:data:`BLOCK_TESTS`, pytest node ids) run there on freshly converted RTL, stopping at the first
failure. The outcome of a mutant is

* ``killed``: a test failed on a comparison (scoreboard, register check, protocol checker);
* ``timeout``: a test failed only through the watchdog or a simulation that did not finish;
* ``survived``: every test passed;
* ``invalid``: the mutant does not convert or build (a test error before any simulation);
* ``equivalent``: not run; the catalogue says why no test can tell it from the original.

Each outcome names its mechanism: a kill by the ``scoreboard`` (a comparison with the golden
model or the register map) or by a protocol ``checker``; a timeout by the ``watchdog`` (no
handshake for its cycle count) or the ``time limit`` of the run; an invalid mutant by
``lint/build``. The *score by comparison* is the share of the non-equivalent mutants killed by
the scoreboard or a checker (a timeout, a survivor or an invalid mutant counts against it).

The run writes ``mutants.json`` and ``mutants.md`` (per block and in total the score by
comparison; per mutant its outcome, mechanism and first failure message; the equivalents with
their reasons) and every mutant's pytest output (``logs/``) into ``--out`` (default
``build/mutate``). It exits 1 when the score by comparison is below ``--min-score`` (95 %) or
a mutant was only timed out. ``--render RUN.json`` rewrites the report of an earlier run
(mechanisms from its ``logs/`` where present), e.g. into the committed
``verif/mutation/report.{md,json}``::

    python -m verif.mutate --render build/mutate/mutants.json --out verif/mutation --stem report
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from approxnn.eda.sim import REPO_ROOT


@dataclass(frozen=True)
class Mutant:
    name: str
    block: str
    path: str  # repository-relative source file
    old: str
    new: str
    what: str
    equivalent: str = ""  # why no test can distinguish it (then it is not run)


def _arith(unit):
    return [f"verif/arith/test_arith_rtl.py::test_exhaustive_w8[{unit}-{s}-icarus]"
            for s in (0, 1)]


ENGINE_FAST = ["verif/cnn/test_cnn_rtl.py::test_engine_registers[int8]",
               "verif/cnn/test_cnn_rtl.py::test_engine_stress_and_extremes",
               "verif/cnn/test_cnn_rtl.py::test_engine_int8",
               "verif/cnn/test_cnn_rtl.py::test_engine_stress_large_buffers"]

#: block -> pytest node ids run against its mutants (the first failure ends the run)
BLOCK_TESTS = {
    **{f"arith_{u}": _arith(u) for u in ("drum", "etm", "exact", "gear", "kulkarni", "loa",
                                         "mitchell", "roba", "trunc", "add")},
    "cnn_requant": ["verif/cnn/test_cnn_rtl.py::test_requant[icarus]"],
    "cnn_pool": ["verif/cnn/test_pool.py::test_pool"],
    "cnn_mac": ["verif/cnn/test_cnn_rtl.py::test_mac[int8_p8]",
                "verif/cnn/test_cnn_rtl.py::test_mac[int8_p3]",
                "verif/cnn/test_cnn_rtl.py::test_mac[drum4s_p8]",
                "verif/cnn/test_cnn_rtl.py::test_mac[etm_u_p3]"],
    "cnn_hf6mac": ["verif/cnn/test_hf6mac.py"],
    "cnn_engine": ENGINE_FAST,
    "axil_bridge": ["verif/sbs/test_layer_rtl.py::test_layer_registers_icarus",
                    "verif/cnn/test_cnn_rtl.py::test_engine_registers[int8]"],
    "sbs_update": ["verif/sbs/test_update_rtl.py::test_update_unit_icarus"],
    "sbs_layer": ["verif/sbs/test_layer_rtl.py::test_layer_registers_icarus",
                  "verif/sbs/test_layer_rtl.py"],
    "sbs_spikegen": ["verif/sbs/test_spikegen_rtl.py"],
}

A = "cores/arith"
CNN = "cores/cnn"
UPD = "cores/sbs/update/update.py"
SG = "cores/sbs/spikegen/spikegen.py"
ENG = "cores/cnn/engine/engine.py"
AXIL = "cores/common/axil.py"

CATALOGUE = [
    # ---- arithmetic units
    Mutant("drum_no_unbias_bit", "arith_drum", f"{A}/drum/drum.py",
           "xa[:] = (a >> sa) | 1", "xa[:] = a >> sa", "DRUM: operand a truncated without "
           "the unbiasing 1"),
    Mutant("drum_shift_off_by_one", "arith_drum", f"{A}/drum/drum.py",
           "sh[:] = sa + sb", "sh[:] = sa + sb + (sa != 0)", "DRUM: product shifted one too far"),
    Mutant("etm_low_part_dropped", "arith_etm", f"{A}/etm/etm.py",
           "y.next = (prod << (2 * k)) | low", "y.next = prod << (2 * k)",
           "ETM: the non-multiplied low part dropped"),
    Mutant("exact_or_for_lsb", "arith_exact", f"{A}/exact/exact.py",
           "y.next = a * b", "y.next = (a * b) | 1", "exact multiplier: LSB stuck at 1"),
    Mutant("gear_result_misplaced", "arith_gear", f"{A}/gear/gear.py",
           "res[:] = res | (((seg >> p) & res_mask) << (pos + p))",
           "res[:] = res | ((seg & res_mask) << (pos + p))",
           "GeAr: result bits taken from the prediction part"),
    Mutant("kulkarni_block_shift", "arith_kulkarni", f"{A}/kulkarni/kulkarni.py",
           "acc[:] = acc + (blk << sh)", "acc[:] = acc + (blk << (sh + 1))",
           "Kulkarni: 2x2 blocks accumulated one place too high"),
    Mutant("loa_carry_or", "arith_loa", f"{A}/loa/loa.py",
           "cin[0] = a[l - 1] & b[l - 1]", "cin[0] = a[l - 1] | b[l - 1]",
           "LOA: carry generator ORs instead of ANDs"),
    Mutant("mitchell_zero_check_a_only", "arith_mitchell", f"{A}/mitchell/mitchell.py",
           "if a == 0 or b == 0:", "if a == 0:", "Mitchell: a zero b not forced to 0"),
    Mutant("roba_correction_sign", "arith_roba", f"{A}/roba/roba.py",
           "t[:] = (bw << ra) + (aw << rb) - (one << rsum)",
           "t[:] = (bw << ra) + (aw << rb)", "RoBA: the rounded-product term not subtracted"),
    Mutant("trunc_rows_not_truncated", "arith_trunc", f"{A}/trunc/trunc.py",
           "acc[:] = acc + ((row >> t) << t)", "acc[:] = acc + row",
           "truncated multiplier: rows not truncated"),
    Mutant("add_or", "arith_add", f"{A}/add/add.py", "y.next = a + b", "y.next = a | b",
           "exact adder: OR instead of add"),
    # ---- CNN requantisation unit
    Mutant("requant_ties_toward_zero", "cnn_requant", f"{CNN}/requant/requant.py",
           "thr[:] = thr + 1", "thr[:] = thr", "negative ties rounded toward zero"),
    Mutant("requant_round_boundary", "cnn_requant", f"{CNN}/requant/requant.py",
           "if rem > thr:", "if rem >= thr:", "rounding boundary off by one"),
    Mutant("requant_no_saturation", "cnn_requant", f"{CNN}/requant/requant.py",
           "sat3.next = (not fc2) and a2[31] and (a2[31:] == 0) and b2[31] and (b2[31:] == 0)",
           "sat3.next = (not fc2) and a2[31] and (a2[31:] == 0) and b2[31] and (b2[31:] == 1)",
           "INT32_MIN x INT32_MIN not saturated"),
    Mutant("requant_clamp_low_inclusive", "cnn_requant", f"{CNN}/requant/requant.py",
           "if o < lo5x.signed():", "if o <= lo5x.signed():", "clamp compare inclusive",
           equivalent="o == act_min gives act_min through either branch"),
    # ---- CNN pooling unit
    Mutant("pool_average_not_rounded", "cnn_pool", f"{CNN}/pool/pool.py",
           "dvd.next = d + h", "dvd.next = d", "AveragePool truncates instead of rounding"),
    Mutant("pool_negative_off_by_one", "cnn_pool", f"{CNN}/pool/pool.py",
           "rr[:] = ~t + 129", "rr[:] = ~t + 128", "negative averages one too low"),
    Mutant("pool_max_ties", "cnn_pool", f"{CNN}/pool/pool.py", "if xo > mm:", "if xo >= mm:",
           "MaxPool takes the later of equal values",
           equivalent="equal values: the maximum is the same value"),
    # ---- CNN MAC array
    Mutant("mac_zero_point_ignored", "cnn_mac", f"{CNN}/mac/mac.py",
           "da.next = x9.signed() - zp9.signed()", "da.next = x9.signed()",
           "exact path: input zero point not subtracted"),
    Mutant("mac_pad_not_zero", "cnn_mac", f"{CNN}/mac/mac.py",
           "            if in_pad:\n                da.next = 0",
           "            if in_pad:\n                da.next = 1", "padded taps contribute 1"),
    Mutant("mac_sign_magnitude_input", "cnn_mac", f"{CNN}/mac/mac.py",
           "b.next = x[8:] ^ 0x80\n\n    @always(clk.posedge)",
           "b.next = x[8:]\n\n    @always(clk.posedge)",
           "unsigned approximate unit: input not offset to unsigned"),
    Mutant("mac_unsigned_offset", "cnn_mac", f"{CNN}/mac/mac.py",
           "zpa.next = zp9 + 128  # unsigned unit", "zpa.next = zp9 + 127  # unsigned unit",
           "unsigned approximate unit: input offset off by one"),
    Mutant("mac_dsp_pack_sign", "cnn_mac", f"{CNN}/mac/mac.py",
           "packed.next = hi25.signed() + lo25.signed()",
           "packed.next = hi25.signed() - lo25.signed()", "DSP packing subtracts the low weight"),
    # ---- HF6 MAC array
    Mutant("hf6_round_half_up", "cnn_hf6mac", f"{CNN}/hf6mac/hf6mac.py",
           "up = t_b[39] and (t_b[39:0] != 0 or t_b[40])", "up = t_b[39]",
           "float32 rounding: ties away instead of to even"),
    Mutant("hf6_subnormal_exponent", "cnn_hf6mac", f"{CNN}/hf6mac/hf6mac.py",
           "ew[:] = 1", "ew[:] = 0", "HF6 subnormal weights scaled by the wrong exponent"),
    Mutant("hf6_negate_off_by_one", "cnn_hf6mac", f"{CNN}/hf6mac/hf6mac.py",
           "mag_a.next = ~fin + 1", "mag_a.next = ~fin", "magnitude of negative sums one low"),
    # ---- CNN layer engine
    Mutant("engine_setup_stride_x_channels_truncated", "cnn_engine", ENG,
           "SXC.next = prod[12:]", "SXC.next = prod[8:]",
           "set-up product SX * C truncated to 8 bits"),
    Mutant("engine_setup_pad_x_channels_truncated", "cnn_engine", ENG,
           "PLC.next = prod[12:]", "PLC.next = prod[8:]",
           "set-up product PL * C truncated to 8 bits"),
    Mutant("engine_setup_hwc_truncated", "cnn_engine", ENG,
           "HWC.next = prod[24:]", "HWC.next = prod[16:]",
           "H * W * C truncated to 16 bits: a huge map passes the input-buffer check"),
    Mutant("engine_room_ignores_in_flight", "cnn_engine", ENG,
           "room.next = f9 + pending + P <= FD and", "room.next = f9 + P <= FD and",
           "output-FIFO room check ignores the sums in flight"),
    Mutant("engine_pop_ignores_tready", "cnn_engine", ENG,
           "pop.next = f_cnt != 0 and m_axis_y_tready", "pop.next = f_cnt != 0",
           "output FIFO pops without tready"),
    Mutant("engine_tlast_early", "cnn_engine", ENG,
           "m_axis_y_tlast.next = sent + 1 == NOUT", "m_axis_y_tlast.next = sent + 2 == NOUT",
           "output tlast one beat early"),
    Mutant("engine_depth_multiplier_step", "cnn_engine", ENG,
           "if gdm + 1 == dm16:", "if gdm == dm16:", "depthwise: input channel advanced late"),
    Mutant("engine_table_alias", "cnn_engine", ENG,
           "idx_ok.next = reg_addr[6:] < cmax", "idx_ok.next = reg_addr[6:] < 64",
           "channel-table decode: unmapped words alias onto the table"),
    Mutant("engine_input_frame_length", "cnn_engine", ENG,
           "x_last.next = cnt + 1 == hwc25", "x_last.next = cnt + 2 == hwc25",
           "input-map frame one beat short accepted"),
    # ---- AXI4-Lite bridge (cores/common/axil.py)
    Mutant("axil_partial_strobe_writes", "axil_bridge", AXIL,
           "reg_wr.next = do_wr and full_strb", "reg_wr.next = do_wr",
           "a partial-strobe write is refused (SLVERR) but performed"),
    Mutant("axil_partial_strobe_okay", "axil_bridge", AXIL,
           "if reg_err or not full_strb:", "if reg_err:", "a partial-strobe write answered OKAY"),
    Mutant("axil_bvalid_not_held", "axil_bridge", AXIL,
           "        elif s_axil_bready:\n            s_axil_bvalid.next = 0",
           "        else:\n            s_axil_bvalid.next = 0",
           "write response withdrawn before bready"),
    Mutant("axil_read_over_pending", "axil_bridge", AXIL,
           "do_rd.next = (s_axil_arvalid and not s_axil_rvalid",
           "do_rd.next = (s_axil_arvalid", "a read accepted while its response is pending"),
    # ---- SbS update unit
    Mutant("update_theta_lo_read_only", "sbs_update", UPD,
           "reg_rdata.next = theta[32:0]\n            reg_err.next = reg_wr and busy",
           "reg_rdata.next = theta[32:0]\n            reg_err.next = reg_wr",
           "THETA_LO refuses writes"),
    Mutant("update_id_writable", "sbs_update", UPD,
           "reg_rdata.next = id_value\n            reg_err.next = reg_wr",
           "reg_rdata.next = id_value\n            reg_err.next = False",
           "a write to ID answered OKAY"),
    Mutant("update_tlast_late", "sbs_update", UPD,
           "last_beat.next = (n_h >> lp) - 1", "last_beat.next = (n_h >> lp)",
           "rows and h frames one beat too long"),
    Mutant("update_no_rounding", "sbs_update", UPD,
           "rn[:] = ((((r >> sh_r) << sh_l) + 1) >> 1)", "rn[:] = ((((r >> sh_r) << sh_l)) >> 1)",
           "normalised r truncated instead of rounded"),
    Mutant("update_c1_truncated", "sbs_update", UPD,
           "c1.next = reg_wdata[17:0]", "c1.next = reg_wdata[16:0]",
           "C1 stored in 16 bits"),
    Mutant("update_threshold_inclusive", "sbs_update", UPD,
           "skip.next = flush or drop or r <= theta", "skip.next = flush or drop or r < theta",
           "r == theta takes the update"),
    # ---- SbS layer unit (same source, layer build)
    Mutant("layer_row_bound", "sbs_layer", UPD,
           "s_bad.next = s_axis_s_tdata[16:0] >= n_rows",
           "s_bad.next = s_axis_s_tdata[16:0] > n_rows",
           "a spike for row N_ROWS accepted"),
    Mutant("layer_n_ip_truncated", "sbs_layer", UPD,
           "n_ip.next = reg_wdata[ib + 1:0]", "n_ip.next = reg_wdata[ib:0]",
           "N_IP = IP_MAX stored as 0"),
    Mutant("layer_spike_error_not_flagged", "sbs_layer", UPD,
           "error.next = error | ERR_SPIKE", "error.next = error",
           "a dropped spike not flagged in ERROR"),
    # ---- SbS spike generator
    Mutant("spikegen_mix_shift", "sbs_spikegen", SG,
           "mul_a.next = x ^ (x >> 16)", "mul_a.next = x ^ (x >> 15)",
           "seed mixing: wrong shift"),
    Mutant("spikegen_layer_bound", "sbs_spikegen", SG,
           "reg_wdata > 2047)", "reg_wdata > 2048)", "LAYER = 2048 accepted"),
    Mutant("spikegen_layer_truncated", "sbs_spikegen", SG,
           "layer.next = reg_wdata[11:]", "layer.next = reg_wdata[10:]", "LAYER stored in 10 bits"),
    Mutant("spikegen_golden_constant", "sbs_spikegen", SG,
           "mul_b.next = GOLDEN", "mul_b.next = M1", "seed mixing: wrong constant"),
]


def catalogue(blocks=None, only=None) -> list[Mutant]:
    out = [m for m in CATALOGUE if (not blocks or m.block in blocks)
           and (not only or m.name in only)]
    return out


def check_catalogue(root: Path = REPO_ROOT) -> list[str]:
    """Problems of the catalogue itself: unknown blocks, duplicate names, targets that do not
    occur exactly once."""
    problems, seen = [], set()
    for m in CATALOGUE:
        if m.name in seen:
            problems.append(f"{m.name}: duplicate name")
        seen.add(m.name)
        if m.block not in BLOCK_TESTS:
            problems.append(f"{m.name}: no tests for block {m.block}")
        text = (root / m.path).read_text()
        if text.count(m.old) != 1:
            problems.append(f"{m.name}: target found {text.count(m.old)} times in {m.path}")
        if m.old == m.new:
            problems.append(f"{m.name}: mutation changes nothing")
    return problems


def _copy_repo(dst: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for f in files:
        if not f:
            continue
        src = REPO_ROOT / f
        if src.is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)
    # the tracked files as they are in the work tree (edits not yet committed included)


TIMEOUT_MARKS = ("watchdog:", "did not finish", "SimTimeoutError", "stayed busy")
#: the mutant did not make it to a simulation: MyHDL refused it or the simulator's build failed
INVALID = re.compile(r"myhdl\.\w*Error|ConversionError|syntax error|Unable to bind|"
                     r"error: Unknown module|CalledProcessError")


def classify(returncode: int, output: str, timed_out: bool) -> tuple[str, str]:
    """(outcome, first failure line) of a pytest run against a mutant."""
    fails = [ln.strip() for ln in output.splitlines()
             if ln.startswith("E ") or "AssertionError" in ln or "Error:" in ln]
    first = fails[0][:300] if fails else ""
    if timed_out:
        return "timeout", "the tests ran past their time limit"
    if returncode == 0:
        return "survived", ""
    if returncode == 1 and INVALID.search(output):
        m = INVALID.search(output)
        line = next((ln.strip() for ln in output.splitlines() if m.group(0) in ln), first)
        return "invalid", line[:300]
    if returncode == 1:
        if any(mark in output for mark in TIMEOUT_MARKS) and "protocol violation" not in output \
                and not re.search(r"differ|model|want|SLVERR|OKAY|!=", output):
            return "timeout", first
        return "killed", first
    return "invalid", first or f"pytest exit code {returncode}"


def mechanism(outcome: str, output: str) -> str:
    """What decided the outcome: scoreboard / checker (killed), watchdog / time limit
    (timeout), lint/build (invalid); "" for a survivor or an equivalent mutant."""
    if outcome == "killed":
        return "checker" if "protocol violation" in output else "scoreboard"
    if outcome == "timeout":
        return "watchdog" if "watchdog" in output.lower() else "time limit"
    if outcome == "invalid":
        return "lint/build"
    return ""


def run_mutant(m: Mutant, tests: list[str], limit: float, workdir: Path) -> dict:
    start = time.time()
    if m.equivalent:
        return dict(name=m.name, block=m.block, outcome="equivalent", detail=m.equivalent,
                    seconds=0.0, what=m.what)
    with tempfile.TemporaryDirectory(prefix=f"mutant_{m.name}_", dir=workdir) as tmp:
        root = Path(tmp)
        _copy_repo(root)
        path = root / m.path
        text = path.read_text()
        if text.count(m.old) != 1:
            return dict(name=m.name, block=m.block, outcome="invalid", seconds=0.0, what=m.what,
                        detail=f"target found {text.count(m.old)} times")
        path.write_text(text.replace(m.old, m.new))
        env = dict(os.environ)
        env["PYTHONPATH"] = f"{root}{os.pathsep}{root / 'scripts'}"
        env["APPROXNN_LONG"] = "1"  # the long tests a block lists run here too
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
               "-p", "no:xdist", "--tb=short", *tests]
        by = ""
        # own process group: on the time limit the simulator goes with pytest
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=limit)
            outcome, detail = classify(proc.returncode, output, False)
            by = mechanism(outcome, output)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output = proc.communicate()[0] or ""
            outcome, detail = classify(1, "", True)
            by = "time limit"
        # the whole pytest output, for the kill mechanism and for a later look
        logs = workdir.parent / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        (logs / f"{m.name}.log").write_text(output)
    return dict(name=m.name, block=m.block, outcome=outcome, by=by, detail=detail,
                what=m.what, seconds=time.time() - start)


OUTCOMES = ("killed", "timeout", "survived", "invalid", "equivalent")
MIN_SCORE = 95.0  # per cent of the non-equivalent mutants killed by comparison


def _tally(rows: list[dict]) -> dict:
    t = {"mutants": len(rows), **{k: 0 for k in OUTCOMES}, "checker": 0}
    for r in rows:
        t[r["outcome"]] += 1
        t["checker"] += r["outcome"] == "killed" and r.get("by") == "checker"
    n = t["mutants"] - t["equivalent"]
    t["score"] = round(100.0 * t["killed"] / n, 1) if n else None
    return t


def score(results: list[dict]) -> dict:
    """Per block: mutants, killed (``checker``: of them by a protocol checker), timeout,
    survived, invalid, equivalent and the score by comparison, killed / (mutants -
    equivalent)."""
    blocks: dict = {}
    for r in results:
        blocks.setdefault(r["block"], []).append(r)
    return {b: _tally(rows) for b, rows in blocks.items()}


def verdict(results: list[dict], min_score: float = MIN_SCORE) -> list[str]:
    """Why the run fails (empty: it passes): total score by comparison below ``min_score``,
    mutants killed only by a timeout."""
    total = _tally(results)
    bad = []
    if total["score"] is not None and total["score"] < min_score:
        bad.append(f"score by comparison {total['score']} % < {min_score} %")
    timeouts = [r["name"] for r in results if r["outcome"] == "timeout"]
    if timeouts:
        bad.append(f"killed only by a timeout: {', '.join(timeouts)}")
    return bad


def _cell(text: str, n: int = 160) -> str:
    return str(text).replace("|", "/").replace("\n", " ")[:n]


def write_report(results: list[dict], out: Path, meta: dict | None = None,
                 stem: str = "mutants", min_score: float = MIN_SCORE) -> tuple[Path, Path]:
    """``<stem>.json`` and ``<stem>.md`` in ``out``; returns both paths."""
    out.mkdir(parents=True, exist_ok=True)
    blocks = score(results)
    total = _tally(results)
    bad = verdict(results, min_score)
    meta = dict(meta or {})
    js = out / f"{stem}.json"
    js.write_text(json.dumps({"meta": meta, "total": total, "min_score": min_score,
                              "verdict": bad or "pass", "blocks": blocks,
                              "results": results}, indent=1) + "\n")
    lines = ["# Mutation report", ""]
    if meta:
        lines += [f"- {k}: {v}" for k, v in meta.items()] + [""]
    sc = "-" if total["score"] is None else f"{total['score']} %"
    lines += [f"**Score by comparison: {sc}** ({total['killed']} of "
              f"{total['mutants'] - total['equivalent']} non-equivalent mutants killed by the "
              f"scoreboard or a protocol checker, {total['checker']} of them by a checker; "
              f"{total['timeout']} timeout, {total['survived']} survived, {total['invalid']} "
              f"invalid, {total['equivalent']} equivalent). Required: at least {min_score} % "
              "and no mutant killed only by a timeout: "
              + ("**pass**." if not bad else "**FAIL** (" + "; ".join(bad) + ")."), "",
              "| block | mutants | killed | of them by a checker | timeout | survived | "
              "invalid | equivalent | score |", "|---|---|---|---|---|---|---|---|---|"]

    def row(name, b):
        s_ = "-" if b["score"] is None else f"{b['score']} %"
        return (f"| {name} | {b['mutants']} | {b['killed']} | {b['checker']} | {b['timeout']} "
                f"| {b['survived']} | {b['invalid']} | {b['equivalent']} | {s_} |")

    lines += [row(name, b) for name, b in sorted(blocks.items())]
    lines += [row("**total**", total), "",
              "Mechanisms: *scoreboard*, a comparison with the golden model or the register "
              "map failed; *checker*, a passive protocol checker (verif/common/protocol.py) "
              "failed; *watchdog*, only the watchdog (no handshake for its cycle count) "
              "noticed; *time limit*, the tests ran past the run's limit; *lint/build*, the "
              "mutant did not convert or build.", "",
              "| mutant | block | outcome | mechanism | seconds | what | first failure |",
              "|---|---|---|---|---|---|---|"]
    for r in results:
        if r["outcome"] == "equivalent":
            continue
        lines.append(f"| {r['name']} | {r['block']} | {r['outcome']} | {r.get('by') or '-'} | "
                     f"{r.get('seconds', 0):.0f} | {_cell(r['what'])} | "
                     f"{_cell(r.get('detail', ''))} |")
    eq = [r for r in results if r["outcome"] == "equivalent"]
    if eq:
        lines += ["", "## Equivalent mutants (not run)", "",
                  "| mutant | block | what | why no test can tell it from the original |",
                  "|---|---|---|---|"]
        lines += [f"| {r['name']} | {r['block']} | {_cell(r['what'])} | "
                  f"{_cell(r.get('detail', ''), 300)} |" for r in eq]
    md = out / f"{stem}.md"
    md.write_text("\n".join(lines) + "\n")
    return md, js


def render(run_json: Path, out: Path, stem: str, min_score: float) -> tuple[Path, Path]:
    """Rewrite the report of an earlier run (its ``mutants.json``); the mechanism of each
    mutant is taken again from ``logs/<name>.log`` beside it where present."""
    try:
        data = json.loads(Path(run_json).read_text())
        results = data["results"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"error: {run_json}: not a mutation run report ({exc})") from None
    logs = Path(run_json).parent / "logs"
    for r in results:
        log = logs / f"{r['name']}.log"
        if log.is_file() and r["outcome"] != "equivalent":
            by = mechanism(r["outcome"], log.read_text())
            if r["outcome"] != "timeout" or not r.get("by"):
                r["by"] = by
    return write_report(results, out, data.get("meta"), stem, min_score)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--list", action="store_true", help="print the catalogue and exit")
    ap.add_argument("--block", action="append", default=[], help="only this block (repeatable)")
    ap.add_argument("--only", default="", help="comma-separated mutant names")
    ap.add_argument("--jobs", type=int, default=1, help="mutants run in parallel")
    ap.add_argument("--limit", type=float, default=1200.0,
                    help="seconds a mutant's tests may take (then: timeout)")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "mutate")
    ap.add_argument("--min-score", type=float, default=MIN_SCORE,
                    help="per cent killed by comparison below which the run fails (95)")
    ap.add_argument("--render", type=Path, metavar="RUN.json",
                    help="rewrite the report of an earlier run into --out, run nothing")
    ap.add_argument("--stem", default="mutants", help="report file names (<stem>.md/.json)")
    args = ap.parse_args(argv)
    if not 0 <= args.min_score <= 100:
        ap.error("--min-score must be in 0..100")
    if args.render is not None:
        if not args.render.is_file():
            ap.error(f"{args.render}: no such report")
        md, _ = render(args.render, args.out.resolve(), args.stem, args.min_score)
        print(f"report: {md}")
        return 0
    known = sorted(BLOCK_TESTS)
    for b in args.block:
        if b not in known:
            ap.error(f"unknown block {b!r}; choose from {', '.join(known)}")
    only = {s for s in args.only.split(",") if s}
    unknown = only - {m.name for m in CATALOGUE}
    if unknown:
        ap.error(f"unknown mutant(s) {', '.join(sorted(unknown))} (see --list)")
    if args.jobs < 1 or args.limit <= 0:
        ap.error("--jobs and --limit must be positive")
    problems = check_catalogue()
    if problems:
        print("\n".join(f"catalogue: {p}" for p in problems), file=sys.stderr)
        return 2
    mutants = catalogue(args.block, only)
    if args.list:
        for m in mutants:
            tag = f" [equivalent: {m.equivalent}]" if m.equivalent else ""
            print(f"{m.block:15s} {m.name:42s} {m.what}{tag}")
        print(f"{len(mutants)} mutants over {len({m.block for m in mutants})} blocks")
        return 0
    out = args.out.resolve()
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    print(f"mutation run: {len(mutants)} mutants, {args.jobs} at a time -> {out}", flush=True)
    results = []
    t0, started = time.time(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futs = [pool.submit(run_mutant, m, BLOCK_TESTS[m.block], args.limit, work)
                for m in mutants]
        for i, f in enumerate(futs, 1):
            r = f.result()
            results.append(r)
            print(f"[{i}/{len(mutants)}] {r['outcome']:10s} {r['block']}/{r['name']} "
                  f"({r['seconds']:.0f} s) {r.get('detail', '')[:120]}", flush=True)
    words = sys.argv[1:] if argv is None else list(argv)
    meta = {"command": " ".join(["python -m verif.mutate", *words]),
            "commit": _commit(), "started": started,
            "wall time": f"{(time.time() - t0) / 60:.1f} min, {args.jobs} at a time",
            "mutants": f"{len(mutants)} of the catalogue's {len(CATALOGUE)}"}
    md, _ = write_report(results, out, meta, args.stem, args.min_score)
    for name, b in sorted(score(results).items()):
        print(f"{name:16s} score {b['score']} % ({b['killed']} killed, {b['timeout']} timeout, "
              f"{b['survived']} survived, {b['equivalent']} equivalent, {b['invalid']} invalid)")
    print(f"report: {md}")
    bad = verdict(results, args.min_score)
    for why in bad:
        print(f"FAIL: {why}")
    return 1 if bad else 0


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
