"""Automatic backups while the server runs: they appear and verify, only the newest N stay, a failure is logged and
retried, and one process per folder writes them."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from server_support import StubScreener
from typer.testing import CliRunner

from medscreen.cli.main import app as cli
from medscreen.config import ServerSettings, Settings
from medscreen.server import auto_backup, lan
from medscreen.server.app import create_app
from medscreen.server.auto_backup import (
    BackupScheduler,
    automatic_backups,
    backup_name,
    prune_backups,
)
from medscreen.server.doctor import check_backups
from medscreen.store.backup import BackupError, create_backup, verify_backup
from medscreen.store.database import database_url, make_engine, upgrade

T0 = datetime(2026, 12, 2, 3, 15, tzinfo=UTC)
#: another process: takes the lock, says so, keeps it until its standard input closes
HOLD_LOCK = ("import fcntl, sys; f = open(sys.argv[1], 'a+b'); fcntl.flock(f, fcntl.LOCK_EX); "
             "print('locked', flush=True); sys.stdin.read()")


def _home(tmp_path: Path) -> Path:
    """A data folder with a database and an image file."""
    home = tmp_path / "clinic"
    (home / "images").mkdir(parents=True)
    (home / "images" / "ab.png").write_bytes(b"an image")
    engine = make_engine(database_url(home))
    upgrade(engine)
    engine.dispose()
    return home


def _scheduler(home: Path, folder: Path | None = None, keep: int = 2) -> BackupScheduler:
    return BackupScheduler(home, database_url(home), folder or home / "backups", interval_s=3600, keep=keep)


def _settings(**server) -> Settings:
    return Settings.model_construct(server=ServerSettings(**server))


def _wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_running_app_backs_up_retries_a_failure_and_keeps_only_n(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    home, calls = tmp_path / "clinic", []
    folder = home / "backups"
    folder.mkdir(parents=True)
    for day in (1, 2, 3):  # older automatic backups, and files of the person's own that are never deleted
        (folder / backup_name(datetime(2026, 11, day, tzinfo=UTC))).write_bytes(b"old")
    (folder / "before-upgrade.tar").write_bytes(b"mine")
    (folder / "medscreen-backup-notes.tar").write_bytes(b"mine")

    def flaky(data_home: Path, url: str, out: Path):
        calls.append(out)
        if len(calls) == 1:
            raise BackupError(f"cannot write the backup {out}: No space left on device; check free space there")
        return create_backup(data_home, url, out)

    monkeypatch.setattr(auto_backup, "create_backup", flaky)
    caplog.set_level(logging.INFO, logger="medscreen.server.auto_backup")
    app = create_app(home, screener=StubScreener(),
                     settings=_settings(backup_interval_hours=0.0004, backup_keep=2))  # every 1.44 s
    with TestClient(app) as client:
        _wait_for(lambda: len(calls) >= 3)  # failed at once (the newest is old), then two backups
        assert client.get("/login").status_code == 200  # the failure did not stop the server
    assert "No space left on device" in caplog.text and "tried again in" in caplog.text
    kept = automatic_backups(folder)
    assert [p for _, p in kept] == calls[-2:]  # the old ones deleted, the two newest kept
    for _, path in kept:
        assert "medscreen.db" in verify_backup(path).files
    assert (folder / "before-upgrade.tar").is_file() and (folder / "medscreen-backup-notes.tar").is_file()
    assert not [p for p in folder.iterdir() if p.name.startswith(".medscreen-backup-")]  # no partial left
    assert app.state.backups._thread is not None and not app.state.backups._thread.is_alive()  # stopped at shutdown


def test_backups_are_off_by_default(tmp_path: Path) -> None:
    app = create_app(tmp_path / "clinic", screener=StubScreener())
    with TestClient(app):
        assert app.state.backups is None
    assert not (tmp_path / "clinic" / "backups").exists()


def test_retention_keeps_the_newest_n_of_its_own_archives(tmp_path: Path) -> None:
    home = _home(tmp_path)
    scheduler = _scheduler(home, keep=3)
    try:
        written = [scheduler.run_once(T0 + timedelta(hours=h)) for h in range(5)]
    finally:
        scheduler.stop()
    assert written[0] is not None and written[0].name == "medscreen-backup-20261202T031500Z.tar"
    assert [p for _, p in automatic_backups(home / "backups")] == written[2:]
    assert verify_backup(written[-1]).files["images/ab.png"]["bytes"] == len(b"an image")
    assert prune_backups(home / "backups", 1) == written[2:4]


def test_an_unwritable_folder_is_logged_and_the_next_run_succeeds(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    home = _home(tmp_path)
    blocker = tmp_path / "usb"
    blocker.write_bytes(b"a file where the folder should be")  # refused to root too, unlike a read-only folder
    scheduler = _scheduler(home, blocker / "backups")
    try:
        with caplog.at_level(logging.ERROR, logger="medscreen.server.auto_backup"):
            assert scheduler.run_once(T0) is None
        assert "automatic backup into" in caplog.text and str(blocker / "backups") in caplog.text
        blocker.unlink()
        written = scheduler.run_once(T0 + timedelta(hours=1))
    finally:
        scheduler.stop()
    assert written is not None and verify_backup(written).revision is not None


def test_one_scheduler_per_folder_writes_backups(tmp_path: Path) -> None:
    home = _home(tmp_path)
    first, second = _scheduler(home), _scheduler(home)
    try:
        assert first.run_once(T0) is not None
        assert second.run_once(T0 + timedelta(minutes=1)) is None  # the first holds the lock
        assert len(automatic_backups(home / "backups")) == 1
        first.stop()
        assert second.run_once(T0 + timedelta(minutes=2)) is not None  # taken over once the first stopped
    finally:
        first.stop()
        second.stop()


@pytest.mark.skipif(sys.platform == "win32", reason="the other process locks with fcntl")
def test_another_process_holding_the_lock_means_no_backup_here(tmp_path: Path) -> None:
    home = _home(tmp_path)
    folder = home / "backups"
    folder.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(folder / auto_backup.LOCK_FILE)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    scheduler = _scheduler(home)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert scheduler.run_once(T0) is None
        holder.communicate("", timeout=10)  # the process ends: the system releases its lock
        assert scheduler.run_once(T0) is not None
    finally:
        holder.kill()
        scheduler.stop()


def test_a_restarted_server_keeps_the_rhythm(tmp_path: Path) -> None:
    home = _home(tmp_path)
    scheduler = _scheduler(home)
    try:
        assert scheduler._first_wait(T0) == 0  # none yet: at once
        scheduler.run_once(T0)
        assert scheduler._first_wait(T0 + timedelta(minutes=20)) == pytest.approx(40 * 60)
        assert scheduler._first_wait(T0 + timedelta(hours=3)) == 0
    finally:
        scheduler.stop()


def test_doctor_reports_the_newest_backups_age(tmp_path: Path) -> None:
    home = _home(tmp_path)
    assert check_backups(home, _settings()) is None  # off
    on = _settings(backup_interval_hours=24)
    assert check_backups(home, on).level == "warn"  # on, none yet
    (home / "backups").mkdir()
    (home / "backups" / backup_name(T0)).write_bytes(b"")
    fresh = check_backups(home, on, now=T0 + timedelta(hours=30))
    assert fresh.level == "ok" and "30.0 h old" in fresh.found
    stale = check_backups(home, on, now=T0 + timedelta(hours=49))
    assert stale.level == "warn" and "49.0 h old" in stale.found and stale.fix


def test_serve_options_set_the_backup_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(app.state.settings.server))
    monkeypatch.setattr(lan, "lan_addresses", list)
    home = tmp_path / "h"
    r = CliRunner().invoke(cli, ["serve", "--data-dir", str(home), "--backup-every", "12", "--backup-keep", "3"])
    assert r.exit_code == 0, r.output
    assert (served[0].backup_interval_hours, served[0].backup_keep) == (12, 3)
    assert f"automatic backups every 12 h into {home.resolve() / 'backups'}" in r.output.replace("\n", "")
    r = CliRunner().invoke(cli, ["serve", "--data-dir", str(home), "--backup-keep", "0"])
    assert r.exit_code == 2 and "--backup-keep" in r.output
