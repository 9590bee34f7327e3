"""Fixtures of the server tests (defined in :mod:`server_support`, which the tests also import helpers from)."""

from __future__ import annotations

from server_support import browsers, world

__all__ = ["browsers", "world"]
