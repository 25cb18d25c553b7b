"""The heterogeneous CNN layer engine (several multiplier units, one per layer by MODE.MUL)
against the per-layer golden model (refmodels.cnn.hetero), on Icarus:

* default suite: P = 4 with three units (truncated t=8, exact, unsigned Mitchell: both
  zero-point mappings of the MAC array), MODE.MUL read back, refused unit
  selections (STATUS.ERROR code 6), a random Conv2D layer with each unit, and the digits network
  on one held-out image with a different unit in each conv / dense layer;
* nightly tier (``APPROXNN_NIGHTLY=1``): the LeNet / MNIST per-layer choice of ``approxnn
  explore mnist --budget 0.5`` (truncated t=10 / t=8 / t=6 / t=4 / t=8 in conv1 / conv2 / fc1 /
  fc2 / fc3) on the MNIST-sized engine (P = 8), three held-out images end to end; two mutants
  of the MAC array's unit selection (:data:`HETERO_MUTANTS`), each caught by both tests.
"""


import pytest
from approxnn.eda.sim import run_cocotb

from verif.cnn.harness import BUILD_ROOT
from verif.common.tiers import nightly

pytestmark = pytest.mark.sim

#: MODE.MUL 0, 1, 2 of the default-suite build, and the unit index of each digits layer
DIGITS_UNITS = ["trunc:t=8", "exact", "mitchell:signed=0"]
DIGITS_LAYERS = "2,0,1"  # conv1 Mitchell (unsigned), conv2 trunc t=8, fc exact
#: the MNIST per-layer choice (refmodels/cnn/README.md, 300 analysis images, budget 0.5 pp)
MNIST_UNITS = ["trunc:t=10", "trunc:t=8", "trunc:t=6", "trunc:t=4"]
MNIST_LAYERS = "0,1,2,3,1"


def run_hetero(params, layers, network="digits", images=1, testcase=None, seed=7,
               mutate=None, extra_env=None):
    """Generate the engine ``params`` and run the heterogeneous tests on Icarus. ``mutate =
    (old, new, n)``: the n-th occurrence (from 1) of ``old`` in the Verilog becomes ``new``."""
    from cores.cnn.common import convert  # noqa: PLC0415 - MyHDL import is slow
    from cores.cnn.engine.engine import check_params  # noqa: PLC0415
    from cores.cnn.generate import build_block  # noqa: PLC0415

    factory, module = build_block("engine", **params)
    build_dir = BUILD_ROOT / (f"{module}_icarus" + ("_mutant" if mutate else ""))
    src = convert(factory, module, build_dir / "rtl")
    if mutate:
        old, new, n = mutate
        parts = src.read_text().split(old)
        if len(parts) <= n:
            raise ValueError(f"mutation target {old!r} occurs fewer than {n} times")
        src.write_text(old.join(parts[:n]) + new + old.join(parts[n:]))
    p = check_params(**params)
    env = {"APPROXNN_SEED": seed, "APPROXNN_ENGINE_LANES": p["lanes"],
           "APPROXNN_ENGINE_MUL": p["mul"], "APPROXNN_HETERO_LAYERS": layers,
           "APPROXNN_NETWORK": network, "APPROXNN_IMAGES": images, **(extra_env or {})}
    return run_cocotb("icarus", [src], module, "verif.cnn.cocotb_engine_hetero",
                      build_dir / "sim", testcase=testcase, extra_env=env, seed=seed)


def _check(result):
    assert result.passed and result.tests >= 1, \
        "\n".join(result.messages) or f"no test ran ({result.xml})"


def test_hetero_engine_digits():
    # seconds count here: no register-window sweep (the int8 builds' register tests run it;
    # MODE.MUL is read back), no stream idle cycles (the engine tests stress the streams)
    _check(run_hetero({"lanes": 4, "mul": DIGITS_UNITS}, DIGITS_LAYERS,
                      extra_env={"APPROXNN_SWEEP": 0, "APPROXNN_IDLE": 0}))


@nightly
def test_hetero_engine_mnist_choice():
    from cores.cnn.generate import MNIST_ENGINE  # noqa: PLC0415

    _check(run_hetero(MNIST_ENGINE | {"mul": MNIST_UNITS}, MNIST_LAYERS, network="mnist",
                      images=3))


#: plausible design errors of the heterogeneous MAC array, in the default-suite build
HETERO_MUTANTS = {
    # lane 1 never takes unit 1's product (the select compared with a wrong constant)
    "lane_ignores_a_unit": ("    if ((cnn_mac0_sel == 1)) begin",
                            "    if ((cnn_mac0_sel == 9)) begin", 2),
    # the unsigned unit's +128 input offset left out of the zero-point term
    "unsigned_offset_missing": ("        2: cnn_mac0_offset = 1;",
                                "        2: cnn_mac0_offset = 0;", 1),
}


@nightly
@pytest.mark.parametrize("mutant", sorted(HETERO_MUTANTS))
def test_hetero_mutants_are_caught(mutant):
    result = run_hetero({"lanes": 4, "mul": DIGITS_UNITS}, DIGITS_LAYERS,
                        mutate=HETERO_MUTANTS[mutant], extra_env={"APPROXNN_SWEEP": 0})
    assert result.tests == 2 and result.failures == 2, f"mutant {mutant} survived"
