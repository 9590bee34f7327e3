"""Engines, sessions and migrations of the clinic database.

SQLite (in WAL mode, with foreign keys enforced) in the data folder by
default; PostgreSQL or any other SQLAlchemy URL through
``Settings.database.url`` (``MEDSCREEN_DATABASE_URL``), which the caller passes in. The schema is made and upgraded only by the Alembic
migrations shipped in ``medscreen/store/migrations``; :func:`upgrade` runs them
from code, so no ``alembic.ini`` is needed.

Nothing is created at import: callers build an engine with :func:`make_engine`
and a session factory with :func:`session_factory` and pass them down.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from medscreen.config import Settings
from medscreen.store.errors import StoreError

__all__ = [
    "DATABASE_URL_ENV",
    "HOME_ENV",
    "MIGRATIONS_DIR",
    "alembic_config",
    "connect",
    "current_revision",
    "database_url",
    "default_data_home",
    "get_row",
    "has_database",
    "head_revision",
    "make_engine",
    "max_row_id",
    "require_current",
    "session_factory",
    "upgrade",
]

logger = logging.getLogger(__name__)

HOME_ENV = "MEDSCREEN_HOME"
DATABASE_URL_ENV = "MEDSCREEN_DATABASE_URL"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DATABASE_FILE = "medscreen.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000

EngineOrUrl = Engine | URL | str

#: the largest value an id column (SQLAlchemy ``Integer``) holds: 32-bit INTEGER on PostgreSQL, 64-bit on SQLite
_MAX_ROW_ID = {"postgresql": 2**31 - 1}
_MAX_ROW_ID_DEFAULT = 2**63 - 1


def default_data_home(settings: Settings) -> Path:
    """The data folder (database and images): ``settings.paths.home`` (``MEDSCREEN_HOME``), made absolute."""
    return Path(settings.paths.home).expanduser().resolve()


def database_url(data_home: str | Path, url: str | None = None) -> str:
    """``url`` when given (``Settings.database.url``, ``MEDSCREEN_DATABASE_URL``), else ``sqlite:///<data_home>/medscreen.db``.

    Args:
        data_home: the data folder.
        url: the configured database URL; blank or None means SQLite in ``data_home``.
    """
    if url and url.strip():
        return url.strip()
    home = Path(data_home).expanduser().resolve()
    return f"sqlite:///{(home / DATABASE_FILE).as_posix()}"


def _parse_url(url: URL | str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        shown = url if isinstance(url, URL) else str(url).split("@")[-1]  # no password in messages
        raise StoreError(
            f"database URL {shown!r} is not a SQLAlchemy URL; give e.g. sqlite:///path/medscreen.db or "
            f"postgresql+psycopg://user:password@host/db (set {DATABASE_URL_ENV})"
        ) from None


def make_engine(url: URL | str, **kwargs: Any) -> Engine:
    """An engine for ``url``; for SQLite: WAL journal, foreign keys on, usable from any thread.

    The folder of a SQLite file is created (0700) and the file too, readable by its
    owner only (0600; SQLite gives its -wal and -shm files the same mode). An in-memory SQLite database
    (``sqlite://``) is shared by all sessions of the engine (tests).

    Args:
        url: a SQLAlchemy database URL.
        kwargs: passed to :func:`sqlalchemy.create_engine` (``echo``, pool sizes...).

    Raises:
        StoreError: the URL cannot be parsed, or its driver is not installed.
    """
    parsed = _parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return _create(parsed, kwargs)
    database = parsed.database or ""
    memory = database in ("", ":memory:")
    if not memory:
        _private_file(Path(database).expanduser())
    connect_args = {"check_same_thread": False, **kwargs.pop("connect_args", {})}
    if memory:
        kwargs.setdefault("poolclass", StaticPool)
    engine = _create(parsed, {"connect_args": connect_args, **kwargs})
    event.listen(engine, "connect", _sqlite_pragmas(wal=not memory))
    return engine


def _private_file(path: Path) -> None:
    """Create ``path`` (and its folder) readable by its owner only, when it does not exist yet."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot create the database file {path}: {exc.strerror}; check the folder's "
                         "permissions") from None


def _create(url: URL, kwargs: dict[str, Any]) -> Engine:
    try:
        return create_engine(url, **kwargs)
    except NoSuchModuleError:
        raise StoreError(
            f"unknown database kind or driver {url.drivername!r} in {DATABASE_URL_ENV}; give "
            "postgresql+psycopg://user:password@host/db or sqlite:///path/medscreen.db"
        ) from None
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"the database driver for {url.drivername!r} is not installed ({exc.name}); "
            "install it (e.g. pip install 'psycopg[binary]') or use a sqlite:/// URL"
        ) from None


def _sqlite_pragmas(*, wal: bool) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode up to the last checkpointed commit
        finally:
            cursor.close()

    return on_connect


def max_row_id(session: Session) -> int:
    """The largest id the session's database can hold in an id column (2³¹−1 on PostgreSQL, 2⁶³−1 on SQLite)."""
    return _MAX_ROW_ID.get(session.get_bind().dialect.name, _MAX_ROW_ID_DEFAULT)


def get_row(session: Session, cls: type[Any], row_id: int) -> Any:
    """``session.get(cls, row_id)``, and None for an id outside 1 … :func:`max_row_id` (no SQL is run).

    PostgreSQL answers a lookup of an id its INTEGER column cannot hold with an error (integer out of
    range), not with "no row": an id from a request or the command line is looked up here.
    """
    if not 1 <= row_id <= max_row_id(session):
        return None
    return session.get(cls, row_id)


def connect(engine: Engine) -> Connection:
    """``engine.connect()``; a database that cannot be reached is a :class:`StoreError` saying what to check.

    Raises:
        StoreError: the server is down or unreachable, the database does not exist, the user or password is
            wrong (PostgreSQL), or the file cannot be opened (SQLite). The password is never shown.
    """
    try:
        return engine.connect()
    except OperationalError as exc:
        lines = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
        reason = lines[0] if lines else type(exc.orig).__name__
        if engine.dialect.name == "sqlite":
            hint = "check the data folder (--data-dir, MEDSCREEN_HOME) and its permissions"
        else:
            hint = (f"check that the database server runs and that the database, user and password in "
                    f"{DATABASE_URL_ENV} are right")
        raise StoreError(f"cannot open the database {engine.url.render_as_string(hide_password=True)}: {reason}; "
                         f"{hint}") from None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit (``expire_on_commit=False``)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(url: EngineOrUrl | None = None) -> Config:
    """An Alembic config for the shipped migrations, built in code (no ``alembic.ini``).

    With an engine, migrations run on one of its connections (so its SQLite
    settings and an in-memory database are kept). New migrations are made with
    ``alembic.command.revision(alembic_config(url), message=..., autogenerate=True)``.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if isinstance(url, Engine):
        cfg.attributes["engine"] = url
    elif url is not None:
        cfg.attributes["url"] = _parse_url(url)
    return cfg


def _engine_for(url: EngineOrUrl) -> tuple[Engine, bool]:
    """The engine to use and whether this call owns it (and must dispose of it)."""
    if isinstance(url, Engine):
        return url, False
    return make_engine(url), True


def upgrade(url: EngineOrUrl, revision: str = "head") -> str | None:
    """Migrate the database to ``revision`` (the newest by default); an empty database gets the whole schema.

    Returns:
        The revision the database is at afterwards.

    Raises:
        StoreError: bad URL, missing driver, or the database cannot be reached (:func:`connect`).
    """
    engine, owned = _engine_for(url)
    try:
        cfg = alembic_config(engine)
        command.upgrade(cfg, revision)
        now = current_revision(engine)
        logger.info("database %s is at revision %s", engine.url.render_as_string(hide_password=True), now)
        return now
    finally:
        if owned:
            engine.dispose()


def current_revision(url: EngineOrUrl) -> str | None:
    """The migration revision the database is at; ``None`` for an empty (never migrated) database.

    Raises:
        StoreError: bad URL, missing driver, or the database cannot be reached (:func:`connect`).
    """
    engine, owned = _engine_for(url)
    try:
        with connect(engine) as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        if owned:
            engine.dispose()


def has_database(url: URL | str) -> bool:
    """Whether ``url`` names a database made by medscreen (migrated at least once); never creates one.

    A SQLite file that does not exist (or is empty) counts as no database, and is not created.
    """
    parsed = _parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            return False
        file = Path(database).expanduser()
        if not file.is_file() or file.stat().st_size == 0:
            return False
    return current_revision(parsed) is not None


def head_revision() -> str:
    """The newest revision of the shipped migrations."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships migrations
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}; reinstall medscreen")
    return head


def require_current(url: EngineOrUrl) -> None:
    """Refuse a database that is not at the newest migration (call before serving).

    Raises:
        StoreError: the database is empty or at an older (or unknown) revision.
    """
    now, head = current_revision(url), head_revision()
    if now != head:
        raise StoreError(
            f"the database is at migration {now or 'none (empty)'}, this medscreen needs {head}; "
            "run `medscreen db upgrade` (medscreen.store.database.upgrade) after a backup"
        )
