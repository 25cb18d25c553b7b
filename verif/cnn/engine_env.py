"""pyuvm environment of the CNN layer engine (cores/cnn/engine), int8 and HF6 builds.

A sequence item is one layer: kind (Conv2D, DepthwiseConv2D with its depth multiplier,
FullyConnected, MaxPool, AveragePool), shapes, stride, padding (SAME / VALID, turned into the
output size and leading pads with ``tflite.compute_padding``), zero points and clamp (int8) or
activation (HF6), per-channel bias / multiplier / shift or HF6 bias codes, input tensor and
weights. The driver programs the AXI4-Lite registers (cocotbext-axi master from
verif/common/axi.py), starts the layer and sends the input map and the weights as AXI4-Stream
frames (random idle cycles; cut short or too long for the frame-error layers) while the output
sink applies random back-pressure; the monitor publishes what came back with STATUS and CYCLES.
The scoreboard compares the output with ``refmodels.cnn.tflite`` (exact int8),
``refmodels.cnn.approx`` (approximate unit) or ``refmodels.cnn.hf6`` (float32 bit patterns);
int8 outputs follow the golden model's ``"reference"`` rounding path (:data:`ENGINE_ROUNDING`):
FullyConnected layers run with MODE.FLOAT_SCALE and their float64 scales;
layers the engine must refuse end with STATUS.ERROR, the documented error code and no output.
Tests: :class:`EngineRegTest` (register map), :class:`EngineLayerTest` (directed layer kinds
and every error code), :class:`EngineRandomTest` (constrained-random layers with a coverage
goal) and :class:`EngineNetworkTest` (a stored network end to end).

The environment is the package verif/cnn/engine (layers, agents, sequences, scoreboard,
coverage, env, tests); the host-side layer description, weight packing and channel splitting
are in host/approxnn_host/layers.py. This module gathers their public names.
"""

from __future__ import annotations

from approxnn_host.layers import (
    ACT_CODES,
    POOL_MODES,
    Layer,
    fc_shape,
    hf6_layer_of,
    layer_of,
    pool_layer_of,
    split_channels,
    weight_words,
)

from verif.cnn.engine.agents import (
    BIAS,
    CAPS,
    CTRL,
    CYCLES,
    FILTER,
    FLOAT_SCALE,
    ID,
    IN_SHAPE,
    MODE,
    MULT,
    OUT_SHAPE,
    QUANT,
    REGMAP,
    SCALE_HI,
    SHIFT,
    STATUS,
    Driver,
    EngineBfm,
    Monitor,
    config_from_env,
)
from verif.cnn.engine.coverage import (
    EngineCoverage,
    EngineRandomCoverage,
    rnd_bins,
)
from verif.cnn.engine.env import (
    EngineBase,
    EngineEnv,
    EngineRandomEnv,
)
from verif.cnn.engine.layers import (
    ENGINE_ROUNDING,
    FRAME_FAULTS,
    KINDS,
    KINDS_HF6,
    RND_KINDS,
    ZP_BINS,
    golden,
    golden_hf6,
    hf6_data,
    is_hf6,
    kinds_of,
    layer_list,
    make_layer,
    random_layer,
    tie_scales,
    to_hf6,
)
from verif.cnn.engine.scoreboard import (
    EngineScoreboard,
)
from verif.cnn.engine.sequences import (
    LayerItem,
    LayerSeq,
    RandomLayerSeq,
)
from verif.cnn.engine.tests import (
    EngineLayerTest,
    EngineNetworkTest,
    EngineRandomTest,
    EngineRegTest,
)

__all__ = [
    "ACT_CODES", "BIAS", "CAPS", "CTRL", "CYCLES", "Driver", "ENGINE_ROUNDING", "EngineBase",
    "EngineBfm", "EngineCoverage", "EngineEnv", "EngineLayerTest", "EngineNetworkTest",
    "EngineRandomCoverage", "EngineRandomEnv", "EngineRandomTest", "EngineRegTest",
    "EngineScoreboard", "FILTER", "FLOAT_SCALE", "FRAME_FAULTS", "ID", "IN_SHAPE", "KINDS",
    "KINDS_HF6", "Layer", "LayerItem", "LayerSeq", "MODE", "MULT", "Monitor", "OUT_SHAPE",
    "POOL_MODES", "QUANT", "REGMAP", "RND_KINDS", "RandomLayerSeq", "SCALE_HI", "SHIFT", "STATUS",
    "ZP_BINS", "config_from_env", "fc_shape", "golden", "golden_hf6", "hf6_data", "hf6_layer_of",
    "is_hf6", "kinds_of", "layer_list", "layer_of", "make_layer", "pool_layer_of", "random_layer",
    "rnd_bins", "split_channels", "tie_scales", "to_hf6", "weight_words",
]
