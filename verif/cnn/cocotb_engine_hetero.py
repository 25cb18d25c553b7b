"""cocotb entry point: pyuvm tests of the heterogeneous CNN layer engine (verif/cnn/hetero_env.py);
configuration from APPROXNN_ENGINE_LANES / APPROXNN_ENGINE_MUL / APPROXNN_HETERO_LAYERS."""

import pyuvm

from verif import fail_exit
from verif.cnn.hetero_env import HeteroNetworkTest, HeteroRegTest

fail_exit.install()

HeteroRegTest = pyuvm.test()(HeteroRegTest)
HeteroNetworkTest = pyuvm.test()(HeteroNetworkTest)
