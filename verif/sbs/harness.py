"""Build and run the SbS update unit's cocotb/pyuvm tests on generated RTL (pytest, regression,
``approxnn sbs hardware``)."""

from __future__ import annotations

from pathlib import Path

from verif.tools import REPO_ROOT, SimResult, run_cocotb

BUILD_ROOT = REPO_ROOT / "build" / "verif" / "sbs"


def generate_rtl(p: int, n_max: int, weights: str, outdir: Path) -> tuple[Path, str]:
    from cores.common import convert_block  # noqa: PLC0415 - MyHDL import is slow
    from cores.sbs.update.update import module_name, top  # noqa: PLC0415

    name = module_name(p, n_max, weights)
    return convert_block(lambda: top(p, n_max, weights), name, outdir), name


def run_update(
    p: int = 4,
    n_max: int = 64,
    weights: str = "e4m1",
    sim: str = "icarus",
    testcase: str | None = None,
    seed: int = 1,
    count: int = 12,
    idle: float = 0.2,
    backpressure: float = 0.3,
    build_dir: Path | None = None,
    extra_env: dict | None = None,
    sources: list[Path] | None = None,
    top: str | None = None,
) -> SimResult:
    """Verify one configuration; ``sources``/``top`` replace the generated RTL (e.g. a
    deliberately broken copy)."""
    tag = f"{weights}_p{p}_n{n_max}_{sim}" + ("_custom" if sources else "")
    build_dir = Path(build_dir or BUILD_ROOT / tag)
    if sources is None:
        path, top = generate_rtl(p, n_max, weights, build_dir / "rtl")
        sources = [path]
    env = {
        "APPROXNN_SBS_P": p, "APPROXNN_SBS_NMAX": n_max, "APPROXNN_SBS_WEIGHTS": weights,
        "APPROXNN_SEED": seed, "APPROXNN_COUNT": count, "APPROXNN_IDLE": idle,
        "APPROXNN_BACKPRESSURE": backpressure, **(extra_env or {}),
    }
    return run_cocotb(sim, sources, top, "verif.sbs.cocotb_update", build_dir / "sim",
                      testcase=testcase, extra_env=env, seed=seed)
