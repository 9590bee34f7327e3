"""Errors of the storage layer (subclasses of :class:`~medscreen.errors.MedscreenError`)."""

from __future__ import annotations

from medscreen.errors import MedscreenError

__all__ = ["StoreError", "PermissionDeniedError", "StorageUnavailableError"]


class StoreError(MedscreenError):
    """A storage request cannot be done: a bad value, a duplicate, an unknown record, an old schema."""


class PermissionDeniedError(StoreError):
    """The user's role or clinic does not allow this action on this record.

    Attributes:
        user_id, action, object_type, object_id: what was refused, for the audit row of the denial.
        other_clinic: the role allows the action but the record belongs to another clinic: the
            server answers 404, as for a missing record, so ids of other clinics cannot be probed;
            otherwise 403.
    """

    def __init__(self, message: str, *, user_id: int | None = None, action: str = "", object_type: str | None = None,
                 object_id: int | None = None, other_clinic: bool = False) -> None:
        super().__init__(message)
        self.user_id, self.action, self.other_clinic = user_id, action, other_clinic
        self.object_type, self.object_id = object_type, object_id


class StorageUnavailableError(StoreError):
    """A file cannot be written: the disk is full (``full``) or the folder is not writable.

    The message names the path (for the log and the command line); the server
    answers 507 (full) or 503 with a message for people and no path.
    """

    def __init__(self, message: str, *, full: bool) -> None:
        super().__init__(message)
        self.full = full
