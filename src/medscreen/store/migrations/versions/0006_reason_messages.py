"""A screening's reasons as translatable messages, beside the English result

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-10 10:05:00

``screenings.messages_json`` holds ``{"reasons": [...], "quality_reasons": [...]}``,
each a :class:`medscreen.i18n.Message` as JSON (msgid and parameters), so that
pages and PDFs show the reasons in the reader's language. Screenings stored
before it have NULL and show the English reasons of ``result_json``, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite: the table is copied (as in 0002 and 0004) so that its DDL is the models' exactly
    recreate = "always" if op.get_bind().dialect.name == "sqlite" else "auto"
    with op.batch_alter_table("screenings", recreate=recreate) as batch:
        batch.add_column(sa.Column("messages_json", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("screenings") as batch:
        batch.drop_column("messages_json")
