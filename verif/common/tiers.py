"""The test tiers of pytest: the default suite, and the nightly tier that
``APPROXNN_NIGHTLY=1`` adds (the README's nightly run: the whole suite with it set)."""

from __future__ import annotations

import os

import pytest

#: the nightly tier is enabled
NIGHTLY = bool(os.environ.get("APPROXNN_NIGHTLY"))

#: mark a test (or a parameter set, ``pytest.param(..., marks=nightly)``) as nightly only
nightly = pytest.mark.skipif(not NIGHTLY, reason="nightly tier: set APPROXNN_NIGHTLY=1")
