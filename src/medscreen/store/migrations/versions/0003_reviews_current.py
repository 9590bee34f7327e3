"""One current review per screening, reviews seen by the clinic, the laterality answer

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:40:00

``reviews.superseded_at``: set on the older reviews when a newer one is saved (all are
kept for audit; the one without it is current). ``reviews.seen_at``: when a health worker
first opened the visit after the review (the patient list marks the unseen ones).
``captures.eye_confirmed_at``: when the health worker answered "this looks like the other
eye" (kept or moved). SQLite copies the tables (batch mode) so the DDL matches the models'.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (("reviews", "superseded_at"), ("reviews", "seen_at"), ("captures", "eye_confirmed_at"))


def _batch(table: str):  # noqa: ANN202 - Alembic's batch operations, or op itself
    """SQLite copies the table (so its DDL matches the models'); other databases alter it in place."""
    if op.get_bind().dialect.name == "sqlite":
        return op.batch_alter_table(table, recreate="always")
    return contextlib.nullcontext(_InPlace(table))


class _InPlace:
    def __init__(self, table: str) -> None:
        self.table = table

    def add_column(self, column: sa.Column) -> None:
        op.add_column(self.table, column)

    def drop_column(self, name: str) -> None:
        op.drop_column(self.table, name)


def upgrade() -> None:
    for table in ("reviews", "captures"):
        with _batch(table) as batch:
            for _, name in (c for c in _COLUMNS if c[0] == table):
                batch.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    # reviews made before this revision: all but the newest of each screening are superseded
    op.execute(
        "UPDATE reviews SET superseded_at = created_at WHERE id NOT IN "
        "(SELECT MAX(id) FROM reviews GROUP BY screening_id)"
    )


def downgrade() -> None:
    for table in ("captures", "reviews"):
        with _batch(table) as batch:
            for _, name in (c for c in _COLUMNS if c[0] == table):
                batch.drop_column(name)
