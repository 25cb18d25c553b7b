"""cocotb entry point: the pyuvm tests of an arithmetic unit (selected with APPROXNN_UNIT)."""

import pyuvm

from verif import fail_exit
from verif.arith.env import ArithBaseTest, ArithSeqBase, ExhaustiveSeq, RandomSeq

fail_exit.install()


@pyuvm.test()
class ArithExhaustiveTest(ArithBaseTest):
    """All 2^(2n) operand pairs back to back (n <= 8)."""

    def build_phase(self):
        pyuvm.uvm_factory().set_type_override_by_type(ArithSeqBase, ExhaustiveSeq)
        super().build_phase()


@pyuvm.test()
class ArithRandomTest(ArithBaseTest):
    """Corner pairs plus constrained-random pairs, with random idle cycles on the input."""

    idle = 0.1

    def build_phase(self):
        pyuvm.uvm_factory().set_type_override_by_type(ArithSeqBase, RandomSeq)
        super().build_phase()
