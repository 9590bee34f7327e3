"""Errors of the storage layer (subclasses of :class:`~medscreen.errors.MedscreenError`)."""

from __future__ import annotations

from medscreen.errors import MedscreenError

__all__ = ["StoreError", "PermissionDeniedError"]


class StoreError(MedscreenError):
    """A storage request cannot be done: a bad value, a duplicate, an unknown record, an old schema."""


class PermissionDeniedError(StoreError):
    """The user's role or clinic does not allow this action on this record (the server answers 403)."""
