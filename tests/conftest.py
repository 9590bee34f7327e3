"""Shared pytest fixtures, and which tests count as ``slow`` (left out by ``make test-fast``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medscreen.config import default_data_dir


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets folder (``MEDSCREEN_DATA_DIR`` or the project default); skips when absent."""
    path = Path(os.environ.get("MEDSCREEN_DATA_DIR") or default_data_dir())
    if not path.is_dir():
        pytest.skip(f"real datasets not found at {path}; set MEDSCREEN_DATA_DIR to run")
    return path


#: architectures whose forward/backward takes seconds on a CPU: tests parametrised with them are slow
SLOW_ARCHS = frozenset({"densenet121", "efficientnet-b0", "inception-v3", "effnet-b4", "unet"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark as ``slow`` what reads the real datasets (``data`` marker or the ``data_dir`` fixture)
    and the cases parametrised with a large architecture; other slow tests carry the marker themselves."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        heavy_arch = callspec is not None and callspec.params.get("arch") in SLOW_ARCHS
        real_data = item.get_closest_marker("data") is not None or "data_dir" in getattr(item, "fixturenames", ())
        if heavy_arch or real_data:
            item.add_marker(pytest.mark.slow)
