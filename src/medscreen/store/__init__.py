"""The clinic's storage: SQLAlchemy tables, Alembic migrations, content-addressed image files.

* :mod:`~medscreen.store.models` — the tables (clinics, users, patients, visits,
  images, captures, screenings, reviews, audit events).
* :mod:`~medscreen.store.database` — engines (SQLite WAL by default, PostgreSQL
  by ``MEDSCREEN_DATABASE_URL``), sessions, :func:`upgrade` to the newest migration.
* :mod:`~medscreen.store.blobs` — image files stored once by SHA-256.
* :mod:`~medscreen.store.uploads` — an upload recorded whole or not at all.
* :mod:`~medscreen.store.users` — accounts, Argon2 passwords, API tokens, role permissions.
* :mod:`~medscreen.store.audit` — who accessed which record (ids only).
* :mod:`~medscreen.store.screenings` — results, the review queue, reviews.
* :mod:`~medscreen.store.labels` — reviews exported as a training manifest.
* :mod:`~medscreen.store.timeline` — one eye's screenings over time.

Nothing connects at import: build an engine with :func:`make_engine` and pass it down.
"""

from __future__ import annotations

from medscreen.store.audit import audit, authorize
from medscreen.store.blobs import BlobStore, StoredBlob
from medscreen.store.database import (
    current_revision,
    database_url,
    default_data_home,
    head_revision,
    make_engine,
    require_current,
    session_factory,
    upgrade,
)
from medscreen.store.errors import PermissionDeniedError, StoreError
from medscreen.store.labels import export_labels
from medscreen.store.screenings import add_review, record_failure, record_result, review_queue
from medscreen.store.timeline import eye_timeline
from medscreen.store.uploads import record_capture, remove_orphan_blobs
from medscreen.store.users import (
    authenticate,
    can,
    create_api_token,
    create_user,
    require,
    user_for_token,
)

__all__ = [
    "BlobStore",
    "PermissionDeniedError",
    "StoreError",
    "StoredBlob",
    "add_review",
    "audit",
    "authenticate",
    "authorize",
    "can",
    "create_api_token",
    "create_user",
    "current_revision",
    "database_url",
    "default_data_home",
    "export_labels",
    "eye_timeline",
    "head_revision",
    "make_engine",
    "record_capture",
    "record_failure",
    "record_result",
    "remove_orphan_blobs",
    "require",
    "require_current",
    "review_queue",
    "session_factory",
    "upgrade",
    "user_for_token",
]
