"""Server-side login sessions (a session ends at logout, password change or deactivation); upload idempotency keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:40:00

The session cookie used to carry the user id for its whole lifetime; it now
carries a random id whose SHA-256 is a row of ``login_sessions``. Existing
cookies stop working (everyone signs in again once).

``captures.idempotency_key`` (unique per uploader) makes a retried upload return
the capture it already made instead of a second one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_login_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_login_sessions_token_hash")),
    )
    op.create_index(op.f("ix_login_sessions_user_id"), "login_sessions", ["user_id"], unique=False)
    # SQLite: the table is copied (as in 0002) so that its DDL is the models' exactly
    recreate = "always" if op.get_bind().dialect.name == "sqlite" else "auto"
    with op.batch_alter_table("captures", recreate=recreate) as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(length=64), nullable=True))
        batch.create_index("ix_captures_uploaded_by_id_idempotency_key", ["uploaded_by_id", "idempotency_key"],
                           unique=True)


def downgrade() -> None:
    op.drop_index("ix_captures_uploaded_by_id_idempotency_key", table_name="captures")
    with op.batch_alter_table("captures") as batch:
        batch.drop_column("idempotency_key")
    op.drop_index(op.f("ix_login_sessions_user_id"), table_name="login_sessions")
    op.drop_table("login_sessions")
