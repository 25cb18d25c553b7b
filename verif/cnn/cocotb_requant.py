"""cocotb entry point: pyuvm test of the requantisation unit (cores/cnn/requant)."""

import pyuvm

from verif import fail_exit
from verif.cnn.requant_env import RequantTest

fail_exit.install()

RequantTest = pyuvm.test()(RequantTest)
