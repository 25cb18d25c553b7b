"""Golden models of the approximate arithmetic units (multipliers and adders).

Units are named ``NAME:param=value,...,width=N,signed=0|1``; see ``README.md`` in this folder
and ``docs/architecture.md`` for the interface.
"""

from .lut import from_code, make_lut, save_lut_unit, to_code
from .registry import (
    UnitDef,
    UnitError,
    UnitSpec,
    list_units,
    load_lut_unit,
    parse_mul8,
    parse_unit,
    register_lut_unit,
    unit_names,
    unregister_lut_unit,
)

__all__ = [
    "UnitDef",
    "UnitError",
    "UnitSpec",
    "error_metrics",
    "from_code",
    "list_units",
    "load_lut_unit",
    "make_lut",
    "metrics_from_outputs",
    "metrics_table",
    "parse_mul8",
    "parse_unit",
    "register_lut_unit",
    "save_lut_unit",
    "to_code",
    "unit_names",
    "unregister_lut_unit",
]

_LAZY_METRICS = ("error_metrics", "metrics_from_outputs", "metrics_table")


def __getattr__(name: str):
    # metrics is imported on first use so that ``python -m refmodels.arith.metrics`` runs cleanly
    if name in _LAZY_METRICS:
        from . import metrics

        return getattr(metrics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
