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
              result_file: Path | None = None, extra_env: dict | None = None,
              layers: str = "") -> SimResult:
    """The layer unit's tests: a network end to end, and its registers. ``layers``:
    ``first-last``, only these layers of the network on this unit (default all)."""
    tag = f"layer_{weights}_p{p}_n{n_max}_ip{ip_max}_r{rows_max}_{sim}_{testcase or 'all'}"
    tag += f"_{Path(network).stem}_l{layers}" if layers else ""
    build_dir = Path(build_dir or BUILD_ROOT / tag)
    path, top = generate_layer_rtl(p, n_max, weights, ip_max, rows_max, build_dir / "rtl")
    env = {
        "APPROXNN_SBS_P": p, "APPROXNN_SBS_NMAX": n_max, "APPROXNN_SBS_IPMAX": ip_max,
        "APPROXNN_SBS_ROWSMAX": rows_max, "APPROXNN_SBS_WEIGHTS": weights,
        "APPROXNN_SBS_NETWORK": network, "APPROXNN_SBS_T": T, "APPROXNN_SBS_IMAGES": images,
        "APPROXNN_SEED": seed, "APPROXNN_IDLE": idle, "APPROXNN_BACKPRESSURE": backpressure,
        "APPROXNN_SBS_LAYERS": layers,
    }
    if result_file is not None:
        env["APPROXNN_SBS_RESULT"] = Path(result_file).resolve()
    env.update(extra_env or {})
    return run_cocotb(sim, [path], top, "verif.sbs.cocotb_layer", build_dir / "sim",
                      testcase=testcase, extra_env=env, seed=seed)


def run_published(T: int = 2, images: int = 1, sim: str = "verilator", seed: int = 0,
                  idle: float = 0.0, backpressure: float = 0.0,
                  build_dir: Path | None = None) -> tuple[bool, list[str], dict]:
    """The published MNIST network (``refmodels/sbs/networks/mnist_published``, else
    ``mnist_published_init``) through the
    two layer units sized for it (``cores.sbs.generate.PUBLISHED_SPLIT``): layers 0-3 on the
    conv unit, 4-5 on the fc unit; every layer's h compared with the golden model bit for bit.
    Returns (passed, messages, figures: updates and cycles per unit and layer)."""
    import json  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from cores.sbs.generate import PUBLISHED_SPLIT  # noqa: PLC0415
    from refmodels.sbs.train import NET_DIR  # noqa: PLC0415

    # the trained network where it is stored, else the published topology with the weights of
    # a short run (the bit-exactness does not depend on how well the weights classify)
    network = next(str(Path(NET_DIR) / f"{n}.json") for n in ("mnist_published",
                                                            "mnist_published_init")
                   if (Path(NET_DIR) / f"{n}.json").exists() or n.endswith("_init"))
    figures: dict = {"T": T, "images": images, "units": [], "network": Path(network).stem}
    messages: list[str] = []
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for (p, n_max, weights, ip_max, rows_max), first, last in PUBLISHED_SPLIT:
            out = Path(tmp) / f"l{first}.json"
            res = run_layer(p, n_max, weights, ip_max, rows_max, sim=sim,
                            testcase="network_end_to_end", network=network, T=T, images=images,
                            seed=seed, idle=idle, backpressure=backpressure,
                            build_dir=None if build_dir is None else
                            Path(build_dir) / f"layers{first}-{last}",
                            result_file=out, layers=f"{first}-{last}")
            ok = ok and res.passed
            messages += res.messages
            if not res.passed or not out.exists():
                ok = False
                break
            data = json.loads(out.read_text())
            data["module"] = f"sbs_layer_{weights}_p{p}_n{n_max}_ip{ip_max}_r{rows_max}"
            figures["units"].append(data)
    return ok, messages, figures


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
