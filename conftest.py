"""Test-wide settings."""

import pytest


@pytest.fixture(autouse=True)
def _private_characterisation_cache(tmp_path_factory, monkeypatch):
    # every test starts from an empty characterisation cache (approxnn.cache), also in the
    # command-line processes it starts: a result cached by another test must never stand in
    # for a run the test means to check
    monkeypatch.setenv("APPROXNN_CACHE", str(tmp_path_factory.mktemp("approxnn_cache")))
