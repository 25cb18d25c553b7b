"""cocotb entry point: pyuvm tests of the CNN layer engine (cores/cnn/engine); configuration
from APPROXNN_ENGINE_LANES / APPROXNN_ENGINE_MUL."""

import pyuvm

from verif import fail_exit
from verif.cnn.engine.tests import (
    EngineLayerTest,
    EngineNetworkTest,
    EngineRandomTest,
    EngineRegTest,
)
from verif.cnn.engine_stress import EngineStressTest

fail_exit.install()

EngineRegTest = pyuvm.test()(EngineRegTest)
EngineLayerTest = pyuvm.test()(EngineLayerTest)
EngineNetworkTest = pyuvm.test()(EngineNetworkTest)
EngineRandomTest = pyuvm.test()(EngineRandomTest)
EngineStressTest = pyuvm.test()(EngineStressTest)
