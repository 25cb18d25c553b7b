"""The AXI blocks' base (verif/common/axi_env.py) on ``proto_dut`` in its well-behaved mode:
a directed test whose checks hold passes, and one whose check fails is reported failed with
the check's message (verif/common/test_axi_env.py reads the results file)."""

from verif.common.axi_env import AxiBlockBfm, DirectedSeq, DirectedTest, register


class ProtoBfm(AxiBlockBfm):
    async def start(self):
        self.dut.mode.value = 0  # keep every rule
        self.dut.m_axis_o_tready.value = 1
        await super().start()


class StoreSeq(DirectedSeq):
    """The register of proto_dut reads back what was written."""

    async def steps(self, bfm):
        await bfm.regs.write_ok(0, 0x1234ABCD)
        assert await bfm.regs.read_ok(0) == 0x1234ABCD, "the store does not read back"


class PlantedSeq(DirectedSeq):
    """A check that cannot hold: the test must fail with its message."""

    async def steps(self, bfm):
        await bfm.regs.write_ok(0, 5)
        got = await bfm.regs.read_ok(0)
        assert got == 6, f"planted check: the store reads {got}, the check wants 6"


class ProtoTest(DirectedTest):
    bfm_class = ProtoBfm


class StoreTest(ProtoTest):
    sequence_class = StoreSeq


class PlantedTest(ProtoTest):
    sequence_class = PlantedSeq


store_reads_back = register("store_reads_back", StoreTest)
planted_check_fails = register("planted_check_fails", PlantedTest)
