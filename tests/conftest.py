"""Shared pytest fixtures, the database backends, and which tests count as ``slow`` (left out by ``make test-fast``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from database_support import BACKENDS, PostgresCluster, postgres_cluster_or_skip

from medscreen.config import default_data_dir


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets folder (``MEDSCREEN_DATA_DIR`` or the project default); skips when absent."""
    path = Path(os.environ.get("MEDSCREEN_DATA_DIR") or default_data_dir())
    if not path.is_dir():
        pytest.skip(f"real datasets not found at {path}; set MEDSCREEN_DATA_DIR to run")
    return path


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL server for this test process (see :mod:`database_support`); skips without one."""
    yield from postgres_cluster_or_skip()


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend a test runs on, ``sqlite`` or ``postgresql`` (see :func:`pytest_generate_tests`)."""
    return request.param


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test using the ``backend`` fixture (directly or through ``engine``, ``world``…) runs on each backend;
    one marked ``sqlite_only`` on SQLite alone. Module-scoped: a module's tests run on one backend, then the next."""
    if "backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("backend", ["sqlite"] if only else list(BACKENDS), indirect=True, scope="module")


#: architectures whose forward/backward takes seconds on a CPU: tests parametrised with them are slow
SLOW_ARCHS = frozenset({"densenet121", "efficientnet-b0", "inception-v3", "effnet-b4", "unet"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark as ``slow`` what reads the real datasets (``data`` marker or the ``data_dir`` fixture)
    and the cases parametrised with a large architecture; other slow tests carry the marker themselves.
    Mark ``postgresql`` the cases that run on PostgreSQL (``-m "not postgresql"`` leaves them out)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgresql":
            item.add_marker(pytest.mark.postgresql)
        heavy_arch = callspec is not None and callspec.params.get("arch") in SLOW_ARCHS
        real_data = item.get_closest_marker("data") is not None or "data_dir" in getattr(item, "fixturenames", ())
        if heavy_arch or real_data:
            item.add_marker(pytest.mark.slow)
