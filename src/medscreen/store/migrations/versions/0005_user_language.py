"""Each user's language for the clinic app's pages and PDFs

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-10 10:00:00

``users.language`` is a code of :data:`medscreen.i18n.LANGUAGES` (``en``,
``fr``), or NULL: the server's default language (else the browser's). Existing
users get NULL, so nothing they see changes until a language is chosen.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite: the table is copied (as in 0002 and 0004) so that its DDL is the models' exactly
    recreate = "always" if op.get_bind().dialect.name == "sqlite" else "auto"
    with op.batch_alter_table("users", recreate=recreate) as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
