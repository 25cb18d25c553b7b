"""cocotb entry point: pyuvm test of the MAC array (cores/cnn/mac); configuration from
APPROXNN_MAC_LANES / APPROXNN_MAC_MUL."""

import pyuvm

from verif import fail_exit
from verif.cnn.mac_env import MacTest

fail_exit.install()

MacTest = pyuvm.test()(MacTest)
