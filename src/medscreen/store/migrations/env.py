"""Alembic environment of medscreen's clinic database.

Run by :func:`medscreen.store.database.upgrade` (and ``alembic_config``): the
engine or URL comes in ``config.attributes``, not from an ``alembic.ini``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine

from medscreen.store.database import connect, make_engine
from medscreen.store.errors import StoreError
from medscreen.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things in place
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Write the SQL to stdout (``alembic upgrade --sql``) for the configured URL."""
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def _migrate(engine: Engine) -> None:
    """Run the migrations in one transaction; on SQLite with foreign keys off around it.

    SQLite changes a constraint by copying the table (batch mode); with foreign
    keys on, dropping the old copy would fail on (or delete) the rows that
    reference it. The pragma only takes effect outside a transaction, so it is
    set before the migrations begin, the references are checked after them, and
    foreign keys are turned back on for the pooled connection.
    """
    sqlite = engine.dialect.name == "sqlite"
    with connect(engine) as connection:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                _configure(connection)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise StoreError(f"the migration left {len(broken)} broken references (first: {broken[0]}); "
                                         "nothing was changed — report this with the database file")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is not None:
        _migrate(engine)
        return
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if url is None:
        raise StoreError("no database URL for the migrations; use medscreen.store.database.upgrade(url)")
    engine = make_engine(url)
    try:
        _migrate(engine)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
