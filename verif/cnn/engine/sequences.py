"""Sequences of the CNN engine: the directed layer list and the constrained-random layers."""

from __future__ import annotations

import os

import numpy as np
from approxnn_host.layers import POOL_MODES, Layer
from pyuvm import ConfigDB, uvm_sequence, uvm_sequence_item

from verif.cnn.engine.agents import config_from_env
from verif.cnn.engine.layers import RND_KINDS, ZP_BINS, is_hf6, layer_list, random_layer


class LayerItem(Layer, uvm_sequence_item):
    """A :class:`~approxnn_host.layers.Layer` as a sequence item."""

    def __init__(self, lay, name="Layer"):
        uvm_sequence_item.__init__(self, name)
        self.__dict__.update(vars(lay))


class LayerSeq(uvm_sequence):
    async def body(self):
        rng = np.random.default_rng(ConfigDB().get(None, "", "SEED"))
        caps = ConfigDB().get(None, "", "CAPS")
        for lay in layer_list(rng, *caps, mul=config_from_env()["mul"]):
            item = LayerItem(lay)
            await self.start_item(item)
            await self.finish_item(item)


class RandomLayerSeq(uvm_sequence):
    """``APPROXNN_LAYERS`` constrained-random layers (default 40): the kinds in turn, SAME and
    VALID padding alternating per round, depth multipliers 1, 2, 3 and the input zero-point
    bins in turn, everything else drawn."""

    async def body(self):
        rng = np.random.default_rng(ConfigDB().get(None, "", "SEED") + 17)
        lanes, ibuf, wbuf, cmax = ConfigDB().get(None, "", "CAPS")
        mul = config_from_env()["mul"]
        kinds = [k for k in RND_KINDS if not (is_hf6(mul) and k == "avgpool")]
        n = int(os.environ.get("APPROXNN_LAYERS", "40"))
        with_weights = 0  # layers with weights so far: they take the zero-point bins in turn
        for i in range(n):
            kind = kinds[i % len(kinds)]
            rnd = i // len(kinds)
            lay = random_layer(rng, kind, ("SAME", "VALID")[rnd % 2], lanes, ibuf, wbuf, cmax,
                               mul, dm=1 + rnd % 3,
                               zp_bin=ZP_BINS[with_weights % len(ZP_BINS)])
            with_weights += kind not in POOL_MODES
            item = LayerItem(lay)
            await self.start_item(item)
            await self.finish_item(item)
