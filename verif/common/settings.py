"""Test settings of the cocotb testbenches: a plusarg (``+NAME=value``, as the FuseSoC sim
targets pass them), else the environment (as the cocotb runner of verif/*/harness.py sets
them), else the default."""

from __future__ import annotations

import os

import cocotb


def setting(name: str, default: str) -> str:
    return cocotb.plusargs.get(name) or os.environ.get(name, default)
