"""Build and run the SbS update unit's cocotb/pyuvm tests on generated RTL (pytest, regression,
``approxnn sbs hardware``)."""

from __future__ import annotations

from pathlib import Path

from approxnn.eda.sim import REPO_ROOT, SimResult, run_cocotb

BUILD_ROOT = REPO_ROOT / "build" / "verif" / "sbs"


def generate_rtl(p: int, n_max: int, weights: str, outdir: Path) -> tuple[Path, str]:
    from cores.common import convert_block  # noqa: PLC0415 - MyHDL import is slow
    from cores.sbs.update.update import module_name, top  # noqa: PLC0415

    name = module_name(p, n_max, weights)
    return convert_block(lambda: top(p, n_max, weights), name, outdir), name


def generate_layer_rtl(p, n_max, weights, ip_max, rows_max, outdir: Path) -> tuple[Path, str]:
    from cores.common import convert_block  # noqa: PLC0415
    from cores.sbs.update.update import module_name, top_layer  # noqa: PLC0415

    name = module_name(p, n_max, weights, ip_max, rows_max)
    path = convert_block(lambda: top_layer(p, n_max, weights, ip_max, rows_max), name, outdir)
    return path, name


def run_layer(p: int = 2, n_max: int = 32, weights: str = "e4m1", ip_max: int = 16,
              rows_max: int = 128, sim: str = "icarus", testcase: str | None = None,
              network: str = "digits", T: int = 8, images: int = 1, seed: int = 0,
              idle: float = 0.1, backpressure: float = 0.2, build_dir: Path | None = None,
              result_file: Path | None = None, extra_env: dict | None = None) -> SimResult:
    """The layer unit's tests: a network end to end, and its registers."""
    tag = f"layer_{weights}_p{p}_n{n_max}_ip{ip_max}_r{rows_max}_{sim}_{testcase or 'all'}"
    build_dir = Path(build_dir or BUILD_ROOT / tag)
    path, top = generate_layer_rtl(p, n_max, weights, ip_max, rows_max, build_dir / "rtl")
    env = {
        "APPROXNN_SBS_P": p, "APPROXNN_SBS_NMAX": n_max, "APPROXNN_SBS_IPMAX": ip_max,
        "APPROXNN_SBS_ROWSMAX": rows_max, "APPROXNN_SBS_WEIGHTS": weights,
        "APPROXNN_SBS_NETWORK": network, "APPROXNN_SBS_T": T, "APPROXNN_SBS_IMAGES": images,
        "APPROXNN_SEED": seed, "APPROXNN_IDLE": idle, "APPROXNN_BACKPRESSURE": backpressure,
    }
    if result_file is not None:
        env["APPROXNN_SBS_RESULT"] = Path(result_file).resolve()
    env.update(extra_env or {})
    return run_cocotb(sim, [path], top, "verif.sbs.cocotb_layer", build_dir / "sim",
                      testcase=testcase, extra_env=env, seed=seed)


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
    tag = f"{weights}_p{p}_n{n_max}_{sim}_{testcase or 'all'}" + ("_custom" if sources else "")
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
