"""Fixtures of the server tests (defined in :mod:`server_support` and, for the browser tests, :mod:`browser_support`,
which the tests also import helpers from)."""

from __future__ import annotations

from browser_support import browser, cat_photo, photo, server
from server_support import browsers, world

__all__ = ["browser", "browsers", "cat_photo", "photo", "server", "world"]
