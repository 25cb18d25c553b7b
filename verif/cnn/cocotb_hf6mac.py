"""cocotb entry point: pyuvm test of the Hybrid-Float6 MAC array (cores/cnn/hf6mac);
configuration from APPROXNN_HF6_LANES."""

import pyuvm

from verif import fail_exit
from verif.cnn.hf6mac_env import Hf6MacTest

fail_exit.install()

Hf6MacTest = pyuvm.test()(Hf6MacTest)
