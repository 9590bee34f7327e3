"""Backups of a clinic's data folder that restore: one tar archive with a manifest of SHA-256 sums.

:func:`create_backup` is consistent while the server runs: the SQLite database
is copied with SQLite's online backup API (``sqlite3.Connection.backup``, a
snapshot of one committed state, writers are not blocked for long), then the
data folder's other files — the image store, overlays, the session key, the
TLS certificates — are added. Image files are written before the rows that name
them are committed and are never changed afterwards (content-addressed), so
every image the snapshot refers to is in the archive; an image uploaded after
the snapshot may be in it too, unreferenced (the server removes such files at
start). Temporary files, logs and the live database files are left out.

``MANIFEST.json`` (last in the archive) lists every file with its size and
SHA-256, the migration revision and the medscreen version. :func:`verify_backup`
checks an archive against it (and the database's own integrity check) without
restoring; :func:`restore_backup` verifies, then unpacks into a new folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from medscreen import __version__
from medscreen.store.database import DATABASE_FILE, current_revision
from medscreen.store.errors import StoreError

__all__ = ["BACKUPS_DIR", "MANIFEST", "BackupError", "BackupSummary", "create_backup", "restore_backup", "verify_backup"]

logger = logging.getLogger(__name__)

MANIFEST = "MANIFEST.json"
FORMAT = 1
#: the data folder's own backup folder (automatic backups by default): left out of backups, so the one place inside
#: the data folder a backup may be written
BACKUPS_DIR = "backups"
#: names in the data folder a backup leaves out (the live database is copied by the backup API instead)
_SKIPPED_TOP = {DATABASE_FILE, f"{DATABASE_FILE}-wal", f"{DATABASE_FILE}-shm", f"{DATABASE_FILE}-journal",
                "logs", BACKUPS_DIR}
_CHUNK = 1 << 20


class BackupError(StoreError):
    """An archive that is not a medscreen backup, is damaged, or cannot be written or restored."""


@dataclass(frozen=True)
class BackupSummary:
    """What an archive holds: its files (name → size, SHA-256), the schema revision and when it was made."""

    path: Path
    files: dict[str, dict[str, Any]]
    revision: str | None
    created: str

    @property
    def total_bytes(self) -> int:
        return sum(f["bytes"] for f in self.files.values())


def _sqlite_file(data_home: Path, url: str) -> Path:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        raise BackupError(f"`medscreen backup` copies a SQLite database; {parsed.get_backend_name()} is backed up "
                          "with its own tools (pg_dump) plus a copy of the data folder's images")
    path = Path(parsed.database).expanduser()
    if not path.is_file():
        raise BackupError(f"no clinic database at {path}; check --data-dir / MEDSCREEN_HOME")
    return path


def _snapshot(database: Path, into: Path) -> None:
    """One committed state of ``database`` copied to ``into`` with SQLite's online backup API."""
    source = sqlite3.connect(database, timeout=30)
    target = sqlite3.connect(into)
    try:
        with target:
            source.backup(target, pages=1024)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        target.close()
        source.close()


def _data_files(home: Path) -> list[tuple[str, Path]]:
    found = []
    for root, dirs, files in os.walk(home):
        rel_root = Path(root).relative_to(home)
        if rel_root == Path("."):
            dirs[:] = [d for d in dirs if d not in _SKIPPED_TOP]
        dirs.sort()
        for name in sorted(files):
            if (rel_root == Path(".") and name in _SKIPPED_TOP) or name.startswith(".tmp-") or name.endswith(".tmp"):
                continue
            found.append(((rel_root / name).as_posix(), Path(root) / name))
    return found


class _HashingReader(io.RawIOBase):
    def __init__(self, fp: Any) -> None:
        self.fp, self.sha = fp, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.fp.read(n)
        self.sha.update(data)
        return data


def _add(tar: tarfile.TarFile, name: str, path: Path) -> dict[str, Any]:
    with path.open("rb") as fp:
        size = os.fstat(fp.fileno()).st_size
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o600, int(path.stat().st_mtime)
        reader = _HashingReader(fp)
        tar.addfile(info, reader)
    return {"bytes": size, "sha256": reader.sha.hexdigest()}


def create_backup(data_home: Path, url: str, out: Path) -> BackupSummary:
    """Write a backup of the data folder (and its SQLite database) to ``out``, atomically.

    Args:
        data_home: the data folder.
        url: the database URL (must be the SQLite file of the data folder or another SQLite file).
        out: the archive to write (``.tar``; ``.tar.gz``/``.tgz`` compresses, rarely worth it for photos); outside
            the data folder, or in its :data:`BACKUPS_DIR` (which backups leave out).

    Raises:
        BackupError: not SQLite, no database, or ``out`` cannot be written.
    """
    home = Path(data_home).expanduser().resolve()
    database = _sqlite_file(home, url)
    out = Path(out).expanduser().resolve()
    if out.is_relative_to(home) and not out.is_relative_to(home / BACKUPS_DIR):
        raise BackupError(f"--out {out} is inside the data folder {home}; write the backup elsewhere "
                          f"(another disk or a USB stick) or into its {BACKUPS_DIR}/ folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    mode = "w:gz" if out.name.endswith((".gz", ".tgz")) else "w"
    files: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".medscreen-backup-") as tmp:
        snap = Path(tmp) / DATABASE_FILE
        _snapshot(database, snap)
        revision = current_revision(f"sqlite:///{snap.as_posix()}")
        partial = Path(tmp) / "archive"
        try:
            with tarfile.open(partial, mode) as tar:
                files[DATABASE_FILE] = _add(tar, DATABASE_FILE, snap)
                for name, path in _data_files(home):
                    try:
                        files[name] = _add(tar, name, path)
                    except FileNotFoundError:  # removed meanwhile (a leftover cleaned up): nothing to keep
                        continue
                created = datetime.now(UTC).isoformat(timespec="seconds")
                manifest = json.dumps({"format": FORMAT, "medscreen": __version__, "created": created,
                                       "revision": revision, "files": files}, indent=1).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mode, info.mtime = len(manifest), 0o600, int(datetime.now(UTC).timestamp())
                tar.addfile(info, io.BytesIO(manifest))
            os.chmod(partial, 0o600)
            os.replace(partial, out)
        except OSError as exc:
            raise BackupError(f"cannot write the backup {out}: {exc.strerror or exc}; check free space there") from None
    logger.info("backup of %s: %d files to %s", home, len(files), out)
    return BackupSummary(out, files, revision, created)


def _safe_name(name: str) -> bool:
    path = Path(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts


def verify_backup(archive: Path) -> BackupSummary:
    """Check an archive without restoring: every file listed with its SHA-256, nothing else, a sound database.

    Raises:
        BackupError: unreadable, no manifest, a file missing, extra or with another SHA-256, or the database damaged.
    """
    archive = Path(archive)
    try:
        with tarfile.open(archive, "r:*") as tar:
            manifest = _read_manifest(tar, archive)
            files = manifest["files"]
            seen: set[str] = set()
            for member in tar:
                if member.name == MANIFEST:
                    continue
                if not member.isfile() or not _safe_name(member.name) or member.name not in files:
                    raise BackupError(f"{archive}: {member.name!r} is not in the manifest; this archive was changed")
                sha = hashlib.sha256()
                fp = tar.extractfile(member)
                assert fp is not None
                while chunk := fp.read(_CHUNK):
                    sha.update(chunk)
                if sha.hexdigest() != files[member.name]["sha256"]:
                    raise BackupError(f"{archive}: {member.name} is damaged (SHA-256 differs from the manifest); "
                                      "use another backup")
                if member.name == DATABASE_FILE:
                    _check_database(tar, member, archive)
                seen.add(member.name)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise BackupError(f"{archive} is not a readable backup ({exc}); check the file") from None
    missing = sorted(set(files) - seen)
    if missing:
        raise BackupError(f"{archive}: {len(missing)} files of the manifest are missing (e.g. {missing[0]}); "
                          "use another backup")
    return BackupSummary(archive, files, manifest.get("revision"), manifest.get("created", ""))


def _read_manifest(tar: tarfile.TarFile, archive: Path) -> dict[str, Any]:
    try:
        fp = tar.extractfile(MANIFEST)
        manifest = json.loads(fp.read()) if fp else None
    except (KeyError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or DATABASE_FILE not in manifest.get(
            "files", {}):
        raise BackupError(f"{archive} has no medscreen manifest ({MANIFEST}); is it a `medscreen backup` archive?")
    return manifest


def _check_database(tar: tarfile.TarFile, member: tarfile.TarInfo, archive: Path) -> None:
    with tempfile.TemporaryDirectory(prefix=".medscreen-verify-") as tmp:
        path = Path(tmp) / DATABASE_FILE
        fp = tar.extractfile(member)
        assert fp is not None
        with path.open("wb") as out:
            shutil.copyfileobj(fp, out, _CHUNK)
        db = sqlite3.connect(path)
        try:
            result = db.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            db.close()
        if result != "ok":
            raise BackupError(f"{archive}: the database fails SQLite's integrity check ({result}); use another backup")


def restore_backup(archive: Path, target: Path, *, force: bool = False) -> tuple[BackupSummary, Path | None]:
    """Verify ``archive`` and unpack it as the data folder ``target``.

    Args:
        archive: a ``medscreen backup`` archive.
        target: the data folder to make; must be missing or empty unless ``force``.
        force: replace a non-empty ``target``: it is moved aside to ``<target>.before-restore-<time>``, not deleted.

    Returns:
        The archive's summary and where the replaced folder was moved (None when nothing was replaced).

    Raises:
        BackupError: the archive fails :func:`verify_backup`, or ``target`` is not empty and ``force`` is False.
    """
    target = Path(target).expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not force:
        raise BackupError(f"{target} is not empty; restore into a new folder, or add --force to replace it "
                          "(the old folder is kept beside it)")
    summary = verify_backup(archive)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.restoring-"))
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = [m for m in tar.getmembers() if m.name != MANIFEST]
            tar.extractall(staging, members=members, filter="data")
        for root, dirs, files in os.walk(staging):
            for d in dirs:
                os.chmod(Path(root) / d, 0o700)
            for f in files:
                os.chmod(Path(root) / f, 0o600)
        os.chmod(staging, 0o700)
        moved = None
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        elif target.exists():
            moved = target.with_name(f"{target.name}.before-restore-{datetime.now():%Y%m%d-%H%M%S}")
            os.replace(target, moved)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary, moved
