"""Engines, migrations from an empty database, and the migrated schema against the models."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from medscreen.config import Settings
from medscreen.store.database import (
    alembic_config,
    current_revision,
    database_url,
    default_data_home,
    head_revision,
    make_engine,
    require_current,
    upgrade,
)
from medscreen.store.errors import StoreError
from medscreen.store.models import Base


def _table_ddl(engine) -> dict[str, list[str]]:
    """Each table's and index's CREATE statement as a sorted list of its lines (order-free comparison)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name != 'alembic_version'")
        )
        return {name: sorted(line.strip().rstrip(",") for line in sql.splitlines()) for name, sql in rows}


def test_upgrade_from_empty_reaches_head_and_matches_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db' / 'medscreen.db'}"
    assert current_revision(url) is None
    assert upgrade(url) == head_revision()
    assert current_revision(url) == head_revision()
    require_current(url)

    engine = make_engine(url)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diffs == []
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}

    # compare_metadata does not look at CHECK constraints: compare the whole DDL with create_all's
    reference = make_engine(f"sqlite:///{tmp_path / 'ref.db'}")
    Base.metadata.create_all(reference)
    assert _table_ddl(engine) == _table_ddl(reference)
    engine.dispose()
    reference.dispose()


def test_upgrade_is_idempotent_and_downgrade_empties(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'medscreen.db'}")
    upgrade(engine)
    assert upgrade(engine) == head_revision()
    command.downgrade(alembic_config(engine), "base")
    assert current_revision(engine) is None
    assert inspect(engine).get_table_names() == ["alembic_version"]
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_sqlite_engine_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'folder' / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_foreign_keys_are_enforced(session) -> None:
    from sqlalchemy.exc import IntegrityError

    from medscreen.store.models import Patient

    session.add(Patient(clinic_id=999, name="x"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_in_memory_engine_is_shared_between_connections() -> None:
    engine = make_engine("sqlite://")
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_require_current_refuses_an_empty_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="empty.*upgrade"):
        require_current(f"sqlite:///{tmp_path / 'empty.db'}")


def test_database_url_defaults_to_sqlite_in_the_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDSCREEN_DATABASE_URL", raising=False)
    assert database_url(tmp_path, Settings().database.url) == f"sqlite:///{(tmp_path / 'medscreen.db').as_posix()}"
    monkeypatch.setenv("MEDSCREEN_DATABASE_URL", "postgresql+psycopg://u:p@db/medscreen")
    assert database_url(tmp_path, Settings().database.url) == "postgresql+psycopg://u:p@db/medscreen"
    assert database_url(tmp_path) == f"sqlite:///{(tmp_path / 'medscreen.db').as_posix()}"  # the store reads no env


def test_default_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDSCREEN_HOME", str(tmp_path / "home"))
    assert default_data_home(Settings()) == (tmp_path / "home").resolve()
    monkeypatch.delenv("MEDSCREEN_HOME")
    monkeypatch.chdir(tmp_path)
    assert default_data_home(Settings()) == (tmp_path / "medscreen-data").resolve()


def test_bad_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="not a SQLAlchemy URL"):
        make_engine("not a url")


def test_migration_renders_for_postgresql() -> None:
    """The migration is plain SQLAlchemy: its offline SQL for PostgreSQL names every table and constraint."""
    cfg = alembic_config("postgresql://user@localhost/medscreen")
    out = io.StringIO()
    cfg.output_buffer = out
    with contextlib.redirect_stdout(out):
        command.upgrade(cfg, "head", sql=True)
    sql = out.getvalue()
    for table in Base.metadata.tables:
        assert f"CREATE TABLE {table}" in sql
    assert "CONSTRAINT ck_users_role CHECK" in sql
    assert "TIMESTAMP WITH TIME ZONE" in sql
