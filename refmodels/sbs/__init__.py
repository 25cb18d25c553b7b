"""Spike-by-Spike (SbS) golden models: number formats, bit-exact spike generation, inference."""

from .formats import FormatError, HFixed, WeightFormat, parse_format
from .model import (
    Layer,
    Network,
    NetworkFileError,
    TopologyError,
    add_noise,
    build_layers,
    classify,
    encode_input,
    load_network,
    mnist_published_topology,
    run,
    save_network,
    update_fixed,
    update_float,
)
from .rng import RNG_KINDS, SpikeRNG, select_fixed, select_float, xorshift32

__all__ = [
    "FormatError",
    "HFixed",
    "WeightFormat",
    "parse_format",
    "Layer",
    "Network",
    "NetworkFileError",
    "TopologyError",
    "add_noise",
    "build_layers",
    "classify",
    "encode_input",
    "load_network",
    "mnist_published_topology",
    "run",
    "save_network",
    "update_fixed",
    "update_float",
    "RNG_KINDS",
    "SpikeRNG",
    "select_fixed",
    "select_float",
    "xorshift32",
]
