"""Fixtures of the reliability suite (defined in :mod:`reliability_support`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reliability_support import Browser, World, small_settings, world_on

__all__ = ["browsers", "world"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, backend: str, request: pytest.FixtureRequest) -> Iterator[World]:
    """One app per module on the module's database backend, under the suite's small limits (throttling loose
    enough not to interfere)."""
    settings = small_settings(login_failures_per_account=50, login_failures_per_address=500)
    yield from world_on(backend, request, tmp_path_factory.mktemp("home"), settings)


@pytest.fixture(scope="module")
def browsers(world: World) -> dict[str, Browser]:
    return {name: Browser(world.app, name) for name in ("worker", "reviewer", "admin", "worker.b")}
