"""Shared pytest fixtures."""

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
