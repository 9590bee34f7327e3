"""Advice "review": the model cannot decide, a specialist should look

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 22:10:00

The advice column is a VARCHAR(8) with the CHECK constraint ``ck_screenings_advice``.
PostgreSQL swaps the constraint in place; SQLite cannot alter a CHECK, so the
table is copied (Alembic's batch mode; ``env.py`` turns foreign keys off around
the copy so that the reviews referencing screenings survive it). Downgrading turns
every "review" into "refer", the safer of the two old values.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("refer", "rescreen", "routine")
NEW = ("refer", "review", "rescreen", "routine")


def _advice(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name=op.f("ck_screenings_advice"), native_enum=False, create_constraint=True, length=8)


def _swap(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("screenings", recreate="always") as batch:
            batch.alter_column("advice", existing_type=_advice(old), type_=_advice(new), existing_nullable=True)
        return
    op.drop_constraint(op.f("ck_screenings_advice"), "screenings", type_="check")
    op.create_check_constraint(op.f("ck_screenings_advice"), "screenings", sa.column("advice").in_(new))


def upgrade() -> None:
    _swap(OLD, NEW)


def downgrade() -> None:
    op.execute("UPDATE screenings SET advice = 'refer' WHERE advice = 'review'")
    _swap(NEW, OLD)
