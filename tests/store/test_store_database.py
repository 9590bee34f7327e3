"""Engines, migrations from an empty database (SQLite and PostgreSQL), and the migrated schema against the models."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from database_support import database_of
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from medscreen.config import Settings
from medscreen.store.database import (
    alembic_config,
    current_revision,
    database_url,
    default_data_home,
    get_row,
    has_database,
    head_revision,
    make_engine,
    max_row_id,
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
        # quotes dropped: SQLite writes the name of a table copied by a migration (ALTER TABLE RENAME) quoted
        return {name: sorted(line.strip().rstrip(",").replace('"', "") for line in sql.splitlines())
                for name, sql in rows}


def _catalog(engine) -> dict[str, set[tuple]]:
    """PostgreSQL's own account of the schema: columns, constraints (CHECK included) and indexes, order-free."""
    queries = {
        "columns": "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default "
                   "FROM information_schema.columns WHERE table_schema = 'public'",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE connamespace = 'public'::regnamespace",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    }
    with engine.connect() as conn:
        return {kind: {row for row in conn.execute(text(sql)) if "alembic_version" not in row[0]}
                for kind, sql in queries.items()}


def _schema(engine) -> dict:
    return _table_ddl(engine) if engine.dialect.name == "sqlite" else _catalog(engine)


def test_upgrade_from_empty_reaches_head_and_matches_models(empty_database: str, backend: str,
                                                            request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = empty_database
    assert current_revision(url) is None
    assert upgrade(url) == head_revision()
    assert current_revision(url) == head_revision()
    require_current(url)

    engine = make_engine(url)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diffs == []
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}

    # compare_metadata does not look at CHECK constraints: compare the whole schema with create_all's
    with database_of(backend, request, tmp_path / "reference", migrated=False) as reference_url:
        reference = make_engine(reference_url)
        Base.metadata.create_all(reference)
        assert _schema(engine) == _schema(reference)
        reference.dispose()
    engine.dispose()


def test_upgrade_is_idempotent_and_downgrade_empties(empty_database: str) -> None:
    engine = make_engine(empty_database)
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


def test_get_row_answers_none_for_ids_the_database_cannot_hold(session, world, backend: str) -> None:
    from sqlalchemy.exc import DataError

    from medscreen.store.models import Patient

    largest = max_row_id(session)
    assert largest == (2**31 - 1 if backend == "postgresql" else 2**63 - 1)
    assert get_row(session, Patient, world.patient.id) is world.patient
    for outside in (0, -1, largest, largest + 1, 2**63 - 1, 2**64):
        assert get_row(session, Patient, outside) is None
    if backend == "postgresql":  # the reason for get_row: PostgreSQL fails the lookup instead of finding no row
        with pytest.raises(DataError, match="out of range"):
            session.get(Patient, largest + 1)
        session.rollback()


def test_in_memory_engine_is_shared_between_connections() -> None:
    engine = make_engine("sqlite://")
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_require_current_refuses_an_empty_database(empty_database: str) -> None:
    with pytest.raises(StoreError, match="empty.*upgrade"):
        require_current(empty_database)


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
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # platformdirs' per-user folder on Linux
    first = default_data_home(Settings())
    monkeypatch.chdir(tmp_path)  # the same folder from anywhere: not relative to the current directory
    assert default_data_home(Settings()) == first
    if sys.platform.startswith("linux"):
        assert first == (tmp_path / "xdg" / "medscreen").resolve()


def test_has_database_never_creates_one(tmp_path: Path) -> None:
    url = database_url(tmp_path / "new")
    assert not has_database(url) and not (tmp_path / "new").exists()
    upgrade(url)
    assert has_database(url)


@pytest.mark.parametrize("call", [current_revision, upgrade, has_database])
def test_an_unreachable_database_is_a_store_error_without_the_password(call) -> None:
    pytest.importorskip("psycopg")
    url = "postgresql+psycopg://medscreen:s3cret@127.0.0.1:1/medscreen"  # nothing listens on port 1
    with pytest.raises(StoreError, match="cannot open the database .*127.0.0.1:1.*refused.*MEDSCREEN_DATABASE_URL") as e:
        call(url)
    assert "s3cret" not in str(e.value)


@pytest.mark.postgresql
def test_a_missing_postgresql_database_is_named(postgres_cluster) -> None:
    with pytest.raises(StoreError, match='"no_such_db" does not exist; check that the database server runs'):
        current_revision(postgres_cluster.url("no_such_db"))


def test_a_sqlite_file_that_cannot_be_opened_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "medscreen.db").mkdir()  # a folder where the file should be
    with pytest.raises(StoreError, match="cannot open the database .*data folder"):
        upgrade(f"sqlite:///{tmp_path / 'medscreen.db'}")


def test_bad_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="not a SQLAlchemy URL"):
        make_engine("not a url")
    with pytest.raises(StoreError, match="unknown database kind or driver 'postgresql\\+nosuch'"):
        make_engine("postgresql+nosuch://u@host/db")


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


def _seed_0001(engine, reviews: int = 1) -> None:
    """A clinic, a reviewer, a patient's visit, one image, capture and done screening (id 7), reviews 3, 4…"""
    now = "'2026-12-01 10:00:00.000000'"
    with engine.begin() as conn:
        for sql in (
            f"INSERT INTO clinics (id, name, created_at) VALUES (1, 'Kisumu', {now})",
            (f"INSERT INTO users (id, username, role, password_hash, active, created_at) "
             f"VALUES (1, 'rev', 'reviewer', 'x', TRUE, {now})"),
            f"INSERT INTO patients (id, clinic_id, name, created_at) VALUES (1, 1, 'A', {now})",
            f"INSERT INTO visits (id, patient_id, modality, taken_at, created_by_id) VALUES (1, 1, 'fundus', {now}, 1)",
            (f"INSERT INTO images (id, sha256, path, byte_size, width, height, media_type, created_at) "
             f"VALUES (1, 'ab', 'blobs/ab', 1, 1, 1, 'image/png', {now})"),
            f"INSERT INTO captures (id, visit_id, image_id, uploaded_by_id, uploaded_at) VALUES (1, 1, 1, 1, {now})",
            f"INSERT INTO screenings (id, capture_id, status, advice, created_at) VALUES (7, 1, 'done', 'refer', {now})",
            *(f"INSERT INTO reviews (id, screening_id, reviewer_id, task, decision, created_at) "
              f"VALUES ({3 + i}, 7, 1, 'glaucoma', 'confirm', {now})" for i in range(reviews)),
        ):
            conn.exec_driver_sql(sql)


def test_migration_0002_keeps_screenings_and_their_reviews(empty_database: str) -> None:
    """The CHECK of advice changes (SQLite copies the table, PostgreSQL swaps the constraint): rows survive."""
    engine = make_engine(empty_database)
    command.upgrade(alembic_config(engine), "0001")
    _seed_0001(engine)
    upgrade(engine)
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT id, advice FROM screenings").fetchall() == [(7, "refer")]
        assert conn.exec_driver_sql("SELECT id, screening_id FROM reviews").fetchall() == [(3, 7)]
        conn.exec_driver_sql("UPDATE screenings SET advice = 'review' WHERE id = 7")
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # back on after the migration
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql("UPDATE screenings SET advice = 'maybe' WHERE id = 7")
    command.downgrade(alembic_config(engine), "0001")
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT id, advice FROM screenings").fetchall() == [(7, "refer")]
        assert conn.exec_driver_sql("SELECT count(*) FROM reviews").scalar() == 1
    engine.dispose()


def test_migration_0003_keeps_the_newest_review_current(empty_database: str) -> None:
    """Reviews made before 0003: all but the newest of a screening are superseded; downgrading keeps them all."""
    engine = make_engine(empty_database)
    command.upgrade(alembic_config(engine), "0001")
    _seed_0001(engine, reviews=2)
    upgrade(engine)
    with engine.begin() as conn:
        rows = conn.exec_driver_sql("SELECT id, superseded_at IS NOT NULL, seen_at FROM reviews ORDER BY id").fetchall()
        assert rows == [(3, 1, None), (4, 0, None)]
        assert conn.exec_driver_sql("SELECT eye_confirmed_at FROM captures").fetchall() == [(None,)]
    command.downgrade(alembic_config(engine), "0002")
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM reviews").scalar() == 2
    engine.dispose()
