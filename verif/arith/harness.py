"""Build and run the pyuvm arithmetic environment on a unit's generated RTL.

Used by the pytest suite, the regression runner and the benchmark. The RTL is generated from
the MyHDL core into a build folder; :func:`broken_wrapper` makes a deliberately faulty copy
(one output bit flipped for one operand pair) to prove that the scoreboard catches it.
"""

from __future__ import annotations

from pathlib import Path

from approxnn.eda.sim import REPO_ROOT, SimResult, run_cocotb

from refmodels.arith import parse_unit, to_code

BUILD_ROOT = REPO_ROOT / "build" / "verif"


def safe_name(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def generate_rtl(spec, outdir: Path) -> Path:
    """Registered Verilog of ``spec`` (module ``<module_name>_reg``) in ``outdir``."""
    from cores.arith.common import convert  # noqa: PLC0415 - MyHDL import is slow

    outdir.mkdir(parents=True, exist_ok=True)
    return Path(convert(spec, outdir, registered=True))


def broken_wrapper(spec, outdir: Path, a_val: int, b_val: int, bit: int = 0) -> tuple[Path, str]:
    """A wrapper with the ports of ``<module>_reg`` that flips output bit ``bit`` whenever the
    registered operands are (a_val, b_val). Returns (file, module name)."""
    inner = f"{spec.module_name}_reg"
    name = f"broken_{inner}"
    w, ow = spec.width, spec.out_width
    a_code = int(to_code(a_val, w))
    b_code = int(to_code(b_val, w))
    text = f"""// Deliberately faulty copy of {inner}: output bit {bit} inverted for one pair.
module {name} (
    input wire clk,
    input wire rst,
    input wire in_valid,
    input wire [{w - 1}:0] a,
    input wire [{w - 1}:0] b,
    output wire out_valid,
    output wire [{ow - 1}:0] y
);
    wire [{ow - 1}:0] y_ok;
    reg [{w - 1}:0] a_d1, a_d2, b_d1, b_d2;
    always @(posedge clk) begin
        a_d1 <= a; a_d2 <= a_d1;
        b_d1 <= b; b_d2 <= b_d1;
    end
    {inner} dut (.clk(clk), .rst(rst), .in_valid(in_valid), .a(a), .b(b),
        .out_valid(out_valid), .y(y_ok));
    wire hit = (a_d2 == {w}'d{a_code}) && (b_d2 == {w}'d{b_code});
    assign y = y_ok ^ (hit ? {ow}'d{1 << bit} : {ow}'d0);
endmodule
"""
    path = outdir / f"{name}.v"
    path.write_text(text)
    return path, name


def run_unit(
    unit,
    sim: str = "icarus",
    test: str = "ArithExhaustiveTest",
    seed: int = 1,
    count: int = 20000,
    idle: float | None = None,
    build_dir: Path | None = None,
    broken: tuple[int, int] | None = None,
    coverage_file: Path | None = None,
    results_xml: Path | None = None,
) -> SimResult:
    """Verify one unit's RTL with the pyuvm environment; returns the parsed results."""
    spec = parse_unit(unit)
    tag = f"{safe_name(str(spec))}_{sim}" + ("_broken" if broken else "")
    build_dir = Path(build_dir or BUILD_ROOT / tag)
    rtl_dir = build_dir / "rtl"
    sources = [generate_rtl(spec, rtl_dir)]
    top = f"{spec.module_name}_reg"
    if broken is not None:
        path, top = broken_wrapper(spec, rtl_dir, *broken)
        sources.append(path)
    env = {"APPROXNN_UNIT": str(spec), "APPROXNN_SEED": seed, "APPROXNN_COUNT": count}
    if idle is not None:
        env["APPROXNN_IDLE"] = idle
    if coverage_file is not None:
        env["APPROXNN_COVERAGE_FILE"] = Path(coverage_file).resolve()
    return run_cocotb(
        sim,
        sources,
        top,
        "verif.arith.cocotb_arith",
        build_dir / "sim",
        testcase=test,
        extra_env=env,
        seed=seed,
        results_xml=results_xml,
    )
