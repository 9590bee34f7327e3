"""The database backends the store and server tests run on: SQLite, and a throwaway PostgreSQL cluster.

:class:`PostgresCluster` starts one cluster per test process (each pytest-xdist
worker has its own) with ``initdb`` and ``pg_ctl`` from Debian's ``postgresql``
package, on a free port of 127.0.0.1, in a temporary folder that is removed at
the end. ``make test`` installs the package where it is missing and can be
installed; Debian keeps the programs off PATH, so they are looked for in
``MEDSCREEN_PG_BIN``, then ``/usr/lib/postgresql/<newest>/bin``, then on PATH.

PostgreSQL refuses to run as root: under root the cluster runs as the ``postgres``
account (made by the package), else ``nobody``, and its folder belongs to that account.

Each test gets its own database, copied from a template migrated once
(``CREATE DATABASE … TEMPLATE``, milliseconds), owned by a role that is not a
superuser, as a clinic's would be. The cluster's time zone is Africa/Nairobi
(not UTC) and its locale C.UTF-8, so that code relying on the server's time
zone shows up.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from medscreen.store.database import database_url, upgrade

__all__ = ["BACKENDS", "PG_BIN_ENV", "PostgresCluster", "database_of", "find_postgres_bin", "postgres_cluster_or_skip",
           "remove_stale_clusters"]

BACKENDS = ("sqlite", "postgresql")
PG_BIN_ENV = "MEDSCREEN_PG_BIN"
#: the role the tests' databases belong to (no superuser), and the cluster's superuser
APP_ROLE, SUPERUSER = "medscreen", "postgres"
TEMPLATE = "medscreen_template"
#: the clusters' folders in the temporary folder, and the file naming the test process that owns one
PREFIX, OWNER = "medscreen-pg-", "owner.pid"
#: a throwaway cluster: no durability, little memory, the server's clock away from UTC
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "'16MB'",
    "max_connections": "60",
    "timezone": "'Africa/Nairobi'",
    "log_min_messages": "warning",
}


def find_postgres_bin() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None when PostgreSQL is not installed."""
    candidates = []
    if os.environ.get(PG_BIN_ENV):
        candidates.append(Path(os.environ[PG_BIN_ENV]))

    def version(folder: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in folder.parent.name.split(".") if p.isdigit())

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unprivileged_account() -> Any:
    """The account (a ``pwd`` entry) to run PostgreSQL as when this process is root (it refuses root); None when
    not root or not on POSIX."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd  # POSIX only

    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' account exists to run PostgreSQL as")


class PostgresCluster:
    """A PostgreSQL server of its own (``initdb`` + ``pg_ctl``) in a temporary folder, until :meth:`stop`."""

    def __init__(self, bin_dir: Path, root: Path | None = None) -> None:
        """A new cluster in a new folder of the temporary folder (the account can reach it), or the one in ``root``."""
        self.bin_dir = bin_dir
        self.account = _unprivileged_account()
        self.root = root or Path(tempfile.mkdtemp(prefix=PREFIX))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._admin: Any = None
        self._names = itertools.count(1)
        if root is None:
            (self.root / OWNER).write_text(str(os.getpid()))
            if self.account is not None:
                os.chown(self.root, self.account.pw_uid, self.account.pw_gid)

    def _run(self, *args: str) -> None:
        """Run a PostgreSQL program as the cluster's account; its output is in the error when it fails."""
        kwargs: dict[str, Any] = {}
        if self.account is not None:
            kwargs = {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "TZ": "UTC"}
        done = subprocess.run([str(self.bin_dir / args[0]), *args[1:]], cwd=self.root, env=env, capture_output=True,
                              text=True, timeout=120, check=False, **kwargs)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.is_file() else ""
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stdout}{done.stderr}{log}")

    def start(self) -> PostgresCluster:
        """initdb, then start the server on a free port (tried again on another port if it was taken meanwhile)."""
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
                  "--no-sync")
        for attempt in range(3):
            self.port = _free_port()
            settings = {**SERVER_SETTINGS, "port": str(self.port), "unix_socket_directories": f"'{self.root}'"}
            with (self.data / "postgresql.auto.conf").open("a") as conf:
                conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        self._admin = self._connect("postgres", SUPERUSER)
        self._admin.execute(f"CREATE ROLE {APP_ROLE} LOGIN")
        self._admin.execute(f"CREATE DATABASE {TEMPLATE} OWNER {APP_ROLE}")
        upgrade(self.url(TEMPLATE))  # the engine is disposed afterwards: no connection keeps the template busy
        return self

    def _connect(self, database: str, user: str) -> Any:
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, dbname=database, user=user, autocommit=True)

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` for the application's role."""
        return f"postgresql+psycopg://{APP_ROLE}@127.0.0.1:{self.port}/{database}"

    def create_database(self, *, migrated: bool = True) -> str:
        """A new database of the application's role: a copy of the migrated template, or empty; returns its URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        template = TEMPLATE if migrated else "template0"
        # FILE_COPY (PostgreSQL 15+) copies a small template in a quarter of the time of the default WAL_LOG
        strategy = " STRATEGY FILE_COPY" if self._admin.info.server_version >= 150000 else ""
        self._admin.execute(f"CREATE DATABASE {name} OWNER {APP_ROLE} TEMPLATE {template}{strategy}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database` (connections still open to it are ended)."""
        name = url.rsplit("/", 1)[1]
        self._admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        try:
            if self._admin is not None:
                self._admin.close()
            if (self.data / "postmaster.pid").is_file():
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_clusters(bin_dir: Path) -> None:
    """Stop and remove the clusters of test processes that ended without stopping theirs (killed runs)."""
    for root in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = int((root / OWNER).read_text())
        except (OSError, ValueError):
            continue
        if not _alive(owner):
            try:
                PostgresCluster(bin_dir, root).stop()
            except (OSError, RuntimeError, subprocess.SubprocessError):
                continue  # not ours to remove (another user's), or already half gone: leave it


def postgres_cluster_or_skip() -> Iterator[PostgresCluster]:
    """A started cluster for the session's fixture; skips with the reason when PostgreSQL or psycopg is missing.

    Under ``CI=true`` a missing PostgreSQL fails instead: the tests must run there.
    """
    bin_dir = find_postgres_bin()
    missing = None
    if bin_dir is None:
        missing = (f"PostgreSQL is not installed (no initdb in ${PG_BIN_ENV}, /usr/lib/postgresql/*/bin or PATH): "
                   "run `make test` (installs Debian's postgresql) or `apt-get install postgresql`")
    else:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            missing = "psycopg is not installed: pip install -e '.[test]'"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(missing + " — the PostgreSQL tests must run in CI")
        pytest.skip(missing)
    assert bin_dir is not None
    remove_stale_clusters(bin_dir)
    cluster = PostgresCluster(bin_dir)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@contextmanager
def database_of(backend: str, request: pytest.FixtureRequest, home: Path, *, migrated: bool = True) -> Iterator[str]:
    """The URL of a database of its own on ``backend``, for one test or module.

    SQLite: the file in ``home`` (made by the first engine; ``migrated`` is up to the caller).
    PostgreSQL: a new database of the session's cluster (the ``postgres_cluster`` fixture, started on first use),
    a copy of the migrated template or empty, dropped afterwards.
    """
    if backend == "sqlite":
        yield database_url(home)
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    url = cluster.create_database(migrated=migrated)
    try:
        yield url
    finally:
        cluster.drop_database(url)
