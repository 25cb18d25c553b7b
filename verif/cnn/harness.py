"""Build and run the CNN-block testbenches on freshly generated RTL.

The RTL is converted from the MyHDL source into a build folder (the committed files are
checked separately against a fresh generation). ``broken=N`` wraps the block in a deliberately
faulty copy that inverts bit 0 of its N-th output beat, to show that the scoreboard catches a
single wrong bit; ``mutate`` edits the generated Verilog (a plausible design error) to show
that the directed corners find it.
"""

from __future__ import annotations

from pathlib import Path

from approxnn.eda.sim import REPO_ROOT, SimResult, run_cocotb

BUILD_ROOT = REPO_ROOT / "build" / "verif" / "cnn"


def broken_wrapper(path: Path, module: str, out_port: str, nth: int,
                   beat: str = "out_valid") -> tuple[Path, str]:
    """A module with ``module``'s ports that inverts bit 0 of ``out_port`` on the ``nth``
    output beat (counting from 0; ``beat`` is the Verilog condition of an output beat). The
    port list is read from the generated Verilog."""
    text = Path(path).read_text()
    head = text[text.index(f"module {module} (") : text.index(");") + 2]
    names = [n.strip().rstrip(",") for n in head.splitlines()[1:-1] if n.strip()]
    decls = [ln.strip() for ln in text.splitlines()
             if ln.startswith(("input ", "output ")) and ln.rstrip(";").split()[-1] in names]
    name = f"broken_{module}"
    body = []
    for d in decls:
        port = d.rstrip(";").split()[-1]
        if d.startswith("output") and port == out_port:
            body.append(d)
            body.append(d.replace("output", "wire", 1).replace(port, f"{port}_ok"))
        elif d.startswith("output"):
            body.append(d)
        else:
            body.append(d)
    conns = ", ".join(f".{n}({n}_ok)" if n == out_port else f".{n}({n})" for n in names)
    wtext = f"""// Deliberately faulty copy of {module}:
// bit 0 of {out_port} inverted on output beat {nth}.
module {name} ({", ".join(names)});
{chr(10).join(body)}
reg [31:0] beats;
always @(posedge clk) begin
    if (rst) beats <= 0;
    else if ({beat}) beats <= beats + 1;
end
{module} dut ({conns});
assign {out_port} = {out_port}_ok ^ (({beat} && beats == {nth}) ? 1 : 0);
endmodule
"""
    wpath = Path(path).parent / f"{name}.v"
    wpath.write_text(wtext)
    return wpath, name


def run_block(
    block: str,
    sim: str = "icarus",
    seed: int = 1,
    count: int = 20000,
    params: dict | None = None,
    broken: int | None = None,
    build_dir: Path | None = None,
    extra_env: dict | None = None,
    mutate: tuple[str, str] | None = None,
    testcase: str | list[str] | None = None,
) -> SimResult:
    """Generate ``block`` ("requant", "mac" or "engine") with ``params`` and run its pyuvm
    test. ``mutate = (old, new)`` replaces one piece of the generated Verilog (a mutant: the
    test must then fail)."""
    from cores.cnn.generate import BLOCKS, build_block  # noqa: PLC0415 - MyHDL import is slow

    params = dict(params or {})
    factory, module = build_block(block, **params)
    tag = f"{module}_{sim}" + ("_broken" if broken is not None else "") + (
        "_mutant" if mutate else "")
    build_dir = Path(build_dir or BUILD_ROOT / tag)
    from cores.cnn.common import convert  # noqa: PLC0415

    src = convert(factory, module, build_dir / "rtl")
    if mutate:
        text = src.read_text()
        if text.count(mutate[0]) != 1:
            raise ValueError(f"mutation target {mutate[0]!r} not found once in {src.name}")
        src.write_text(text.replace(mutate[0], mutate[1]))
    sources, top = [src], module
    if broken is not None:
        wpath, top = broken_wrapper(src, module, BLOCKS[block]["out_port"], broken,
                                    BLOCKS[block].get("beat", "out_valid"))
        sources.append(wpath)
    env = {"APPROXNN_SEED": seed, "APPROXNN_COUNT": count, **BLOCKS[block]["env"](params)}
    env.update(extra_env or {})
    return run_cocotb(sim, sources, top, BLOCKS[block]["test_module"], build_dir / "sim",
                      testcase=testcase, extra_env=env, seed=seed)
