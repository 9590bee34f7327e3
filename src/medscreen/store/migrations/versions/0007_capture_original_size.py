"""The size of the photo a phone reduced before uploading it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00

The clinic page shrinks a photo to 2,048 px on its longest side in the browser
before sending it over a slow network. ``captures.original_byte_size``,
``original_width`` and ``original_height`` keep what the camera saved (the
stored image is the reduced one); all three are empty for an image sent as it
was (API clients, or a photo already small enough).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("original_byte_size", "original_width", "original_height")


def upgrade() -> None:
    # SQLite: the table is copied (as in 0004 and 0006) so that its DDL is the models' exactly
    recreate = "always" if op.get_bind().dialect.name == "sqlite" else "auto"
    with op.batch_alter_table("captures", recreate=recreate) as batch:
        for name in _COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("captures") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
