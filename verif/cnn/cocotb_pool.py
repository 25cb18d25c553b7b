"""cocotb entry point: pyuvm test of the pooling unit (cores/cnn/pool)."""

import pyuvm

from verif import fail_exit
from verif.cnn.pool_env import PoolTest

fail_exit.install()

PoolTest = pyuvm.test()(PoolTest)
