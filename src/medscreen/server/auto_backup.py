"""Automatic backups while the server runs: a ``medscreen backup`` every few hours, the newest few kept.

:class:`BackupScheduler` is a daemon thread started and stopped with the app
(``server.backup_interval_hours`` > 0). Every interval it writes
``medscreen-backup-<UTC time>.tar`` with :func:`~medscreen.store.backup.create_backup`
(written under a temporary name in the same folder, then renamed: a backup is
there whole or not at all), then deletes the oldest of its own archives beyond
``server.backup_keep``; other files in the folder are never touched. The first
backup is due one interval after the newest one already there (at once when
there is none), so a restarted server keeps the rhythm.

One process per backup folder writes backups: before its first backup a
scheduler takes an exclusive, non-blocking lock on :data:`LOCK_FILE` in the
folder and keeps it until it stops; another server process (several uvicorn
workers, a second ``serve`` of the same data folder) finds it taken and skips
that interval, taking over at a later one if the holder went away. The lock is
``fcntl.flock`` (``msvcrt.locking`` on Windows), from the standard library; the
lock is released by the system when its process ends, so a crash leaves none.

A failure (disk full, folder not writable, a non-SQLite database) is logged and
tried again at the next interval; it never stops the server.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from medscreen.config import ServerSettings
from medscreen.errors import MedscreenError
from medscreen.store.backup import BACKUPS_DIR, create_backup

__all__ = ["LOCK_FILE", "BackupScheduler", "automatic_backups", "backup_folder", "backup_name", "prune_backups"]

logger = logging.getLogger(__name__)

LOCK_FILE = ".medscreen-backup.lock"
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(r"medscreen-backup-(\d{8}T\d{6}Z)\.tar")
#: a temporary folder of create_backup older than this was left by a process that was killed mid-backup
_STALE_PARTIAL_S = 24 * 3600


def backup_folder(data_home: Path, settings: ServerSettings) -> Path:
    """Where automatic backups go: ``settings.backup_dir``, else ``<data folder>/backups``."""
    return Path(settings.backup_dir).expanduser() if settings.backup_dir else Path(data_home) / BACKUPS_DIR


def backup_name(when: datetime) -> str:
    """The archive name of an automatic backup made at ``when`` (UTC), e.g. ``medscreen-backup-20261202T031500Z.tar``."""
    return f"medscreen-backup-{when.astimezone(UTC).strftime(_TIME_FORMAT)}.tar"


def automatic_backups(folder: Path) -> list[tuple[datetime, Path]]:
    """The automatic backups in ``folder`` (only names :func:`backup_name` makes), oldest first."""
    found = []
    for path in Path(folder).glob("medscreen-backup-*.tar") if Path(folder).is_dir() else []:
        match = _NAME.fullmatch(path.name)
        if match and path.is_file():
            found.append((datetime.strptime(match[1], _TIME_FORMAT).replace(tzinfo=UTC), path))
    return sorted(found)


def prune_backups(folder: Path, keep: int) -> list[Path]:
    """Delete the oldest automatic backups beyond the newest ``keep``; returns those deleted."""
    old = [path for _, path in automatic_backups(folder)[:-keep]] if keep > 0 else []
    for path in old:
        path.unlink(missing_ok=True)
    return old


class BackupScheduler:
    """Writes an automatic backup every ``interval_s`` seconds in a daemon thread (see the module docstring).

    Args:
        data_home: the data folder.
        url: its database URL (SQLite; anything else is logged as a failure each interval).
        folder: where the archives go.
        interval_s: seconds between backups (> 0).
        keep: archives kept (>= 1).
    """

    def __init__(self, data_home: Path, url: str, folder: Path, *, interval_s: float, keep: int) -> None:
        if interval_s <= 0 or keep < 1:
            raise ValueError(f"interval_s must be > 0 and keep >= 1, got {interval_s} and {keep}")
        self.data_home, self.url, self.folder = Path(data_home), url, Path(folder)
        self.interval_s, self.keep = interval_s, keep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_file: IO[bytes] | None = None

    def start(self) -> None:
        """Start the thread; the first backup is due an interval after the newest one in the folder."""
        logger.info("automatic backups every %.4g h into %s, the newest %d kept", self.interval_s / 3600,
                    self.folder, self.keep)
        self._thread = threading.Thread(target=self._loop, name="medscreen-backup", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop the thread (a backup being written is finished first, up to ``timeout_s``) and release the lock."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                logger.warning("an automatic backup was still being written at shutdown; it is left unfinished")
                return  # the thread holds the lock until the process ends
        self._release()

    def _loop(self) -> None:
        wait = self._first_wait(datetime.now(UTC))
        while not self._stop.wait(wait):
            self.run_once()
            wait = self.interval_s

    def _first_wait(self, now: datetime) -> float:
        try:
            backups = automatic_backups(self.folder)
        except OSError:
            return 0.0
        if not backups:
            return 0.0
        return max(0.0, (backups[-1][0] + timedelta(seconds=self.interval_s) - now).total_seconds())

    def run_once(self, now: datetime | None = None) -> Path | None:
        """Write one backup now (if this process holds the folder's lock) and prune; never raises.

        Returns:
            The archive written, or None when another process holds the lock or the backup failed (logged).
        """
        try:
            if not self._acquire():
                logger.debug("automatic backup skipped: another medscreen process writes backups into %s",
                             self.folder)
                return None
            out = self.folder / backup_name(now or datetime.now(UTC))
            started = time.perf_counter()
            summary = create_backup(self.data_home, self.url, out)
            deleted = prune_backups(self.folder, self.keep)
            logger.info("automatic backup %s written (%d files, %.1f MB, %.1f s); %d older deleted", out,
                        len(summary.files), summary.total_bytes / 1e6, time.perf_counter() - started, len(deleted))
            return out
        except Exception as exc:  # a failed backup is logged and retried; it never stops the server
            logger.error("automatic backup into %s failed: %s; tried again in %.4g h", self.folder, exc,
                         self.interval_s / 3600, exc_info=not isinstance(exc, MedscreenError | OSError))
            return None

    def _acquire(self) -> bool:
        """Take the folder's lock (non-blocking) unless held already; False when another process holds it."""
        if self._lock_file is not None:
            return True
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fp = (self.folder / LOCK_FILE).open("a+b")
        if not _try_lock(fp):
            fp.close()
            return False
        self._lock_file = fp
        self._remove_stale_partials()
        return True

    def _release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing the file releases its lock
            self._lock_file = None

    def _remove_stale_partials(self) -> None:
        """Temporary folders of a backup a killed process left (the lock says no scheduler is writing one now)."""
        cutoff = time.time() - _STALE_PARTIAL_S
        for partial in self.folder.glob(".medscreen-backup-*"):
            if partial.is_dir() and partial.stat().st_mtime < cutoff:
                shutil.rmtree(partial, ignore_errors=True)


def _try_lock(fp: IO[bytes]) -> bool:
    """An exclusive lock on ``fp`` without waiting."""
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(fp.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fp.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
