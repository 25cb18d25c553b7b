"""Golden models of the CNN tensor processor: TFLite int8 kernels (:mod:`.tflite`), minifloats and
Hybrid-Float6 (:mod:`.minifloat`), approximate-multiplier int8 layers (:mod:`.approx`) and the
reference networks (:mod:`.net`, :mod:`.train`). See README.md in this folder."""

from . import approx, minifloat, tflite
from .approx import ApproxMul
from .minifloat import HF6, MiniFloat
from .net import Network, load_dataset, load_network

__all__ = [
    "ApproxMul",
    "HF6",
    "MiniFloat",
    "Network",
    "approx",
    "load_dataset",
    "load_network",
    "minifloat",
    "tflite",
]
