"""Backups that restore: a backup of a server under upload load restores into a new folder with every row and file."""

from __future__ import annotations

import tarfile
import threading
import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from server_support import StubScreener, png_bytes
from sqlalchemy import select
from typer.testing import CliRunner

import medscreen.store.users as users_module
from medscreen.cli.main import app as cli
from medscreen.server.app import create_app
from medscreen.store.backup import BackupError, create_backup, restore_backup, verify_backup
from medscreen.store.database import database_url, make_engine
from medscreen.store.models import Base, Clinic, Patient, Role, Sex


#: tables whose rows change after they are written (a screening finishes, a token is used): compared by key while
#: uploads go on, whole once the server is quiet
CHANGING = {"screenings", "api_tokens", "login_sessions"}


def _rows(home: Path) -> dict[str, dict[tuple, dict]]:
    """Every row of every table, by primary key."""
    engine = make_engine(database_url(home))
    try:
        with engine.connect() as conn:
            return {t.name: {tuple(r[c.name] for c in t.primary_key): dict(r)
                             for r in conn.execute(select(t)).mappings()} for t in Base.metadata.sorted_tables}
    finally:
        engine.dispose()


def _files(home: Path) -> dict[str, bytes]:
    skip = {"medscreen.db", "medscreen.db-wal", "medscreen.db-shm"}
    return {p.relative_to(home).as_posix(): p.read_bytes() for p in home.rglob("*")
            if p.is_file() and p.name not in skip and p.relative_to(home).parts[0] != "logs"}


@pytest.fixture()
def serving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(users_module, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=256, parallelism=1))
    home = tmp_path / "clinic"
    app = create_app(home, workers=2, screener=StubScreener())
    with TestClient(app) as client:
        with app.state.sessions() as s:
            clinic = Clinic(name="Kisumu")
            patient = Patient(clinic=clinic, clinic_ref="K-1", name="Amina", birth_year=1960, sex=Sex.FEMALE)
            user = users_module.create_user(s, "nurse", "correct horse battery", Role.HEALTH_WORKER, clinic)
            s.add_all([clinic, patient])
            s.commit()
            token = users_module.create_api_token(s, user, "load")
            s.commit()
            patient_id = patient.id
        client.headers["Authorization"] = f"Bearer {token}"
        yield home, client, patient_id


def _upload_load(client: TestClient, patient_id: int, stop: threading.Event, done: list[int]) -> None:
    visit = client.post("/api/v1/visits", json={"patient_id": patient_id, "modality": "fundus"}).json()["id"]
    i = 0
    while not stop.is_set():
        i += 1
        data = png_bytes(64 + i % 50, 48, (200, (i * 7) % 256, (i * 13) % 256))
        r = client.post(f"/api/v1/visits/{visit}/captures", files={"file": ("eye.png", data, "image/png")},
                        data={"eye": "OD" if i % 2 else "OS"})
        assert r.status_code == 202, r.text
        done.append(i)


def _wait_screened(home: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _rows(home)["screenings"].values()
        if all(str(r["status"]).lower().split(".")[-1] in ("done", "failed") for r in rows):
            return
        time.sleep(0.1)


def test_backup_under_upload_load_restores_every_row_and_file(serving, tmp_path: Path) -> None:
    home, client, patient_id = serving
    stop, done = threading.Event(), []
    loader = threading.Thread(target=_upload_load, args=(client, patient_id, stop, done))
    loader.start()
    try:
        while len(done) < 5:
            time.sleep(0.02)
        during = create_backup(home, database_url(home), tmp_path / "during.tar")
        uploads_at_backup = len(done)
        time.sleep(0.3)
    finally:
        stop.set()
        loader.join(timeout=30)
    assert len(done) > uploads_at_backup  # uploads went on while (and after) the backup ran

    restored = tmp_path / "restored"
    r = CliRunner().invoke(cli, ["restore", str(during.path), "--data-dir", str(restored)])
    assert r.exit_code == 0, r.output
    _wait_screened(home)
    source_rows, back_rows = _rows(home), _rows(restored)
    for table, rows in back_rows.items():  # every restored row is the source's (which went on after the backup)
        for key, row in rows.items():
            assert key in source_rows[table], (table, key)
            if table not in CHANGING:
                assert source_rows[table][key] == row, (table, key)
    assert back_rows["images"], "the backup holds uploaded images"
    source_files, back_files = _files(home), _files(restored)
    for name, data in back_files.items():
        assert source_files[name] == data, name
    for row in back_rows["images"].values():  # every image a restored row names is there, whole
        assert row["path"] in back_files, row["path"]

    # quiet now: a second backup restores to exactly the same rows and files
    after = create_backup(home, database_url(home), tmp_path / "after.tar")
    exact = tmp_path / "exact"
    restore_backup(after.path, exact)
    assert _rows(exact) == _rows(home)
    assert _files(exact) == _files(home)


def test_verify_finds_damage_and_restore_refuses_a_full_folder(serving, tmp_path: Path) -> None:
    home, client, _ = serving
    archive = tmp_path / "b.tar"
    runner = CliRunner()
    r = runner.invoke(cli, ["backup", "--out", str(archive), "--data-dir", str(home)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["restore", str(archive), "--verify"])
    assert r.exit_code == 0 and "verified" in r.output, r.output
    assert (archive.stat().st_mode & 0o077) == 0  # patient data: the owner only

    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    r = runner.invoke(cli, ["restore", str(archive), "--data-dir", str(full)])
    assert r.exit_code == 2 and "--force" in r.output and (full / "keep.txt").exists()
    r = runner.invoke(cli, ["restore", str(archive), "--data-dir", str(full), "--force"])
    assert r.exit_code == 0, r.output
    assert (full / "medscreen.db").is_file() and not (full / "keep.txt").exists()
    assert any((tmp_path).glob("full.before-restore-*/keep.txt"))  # the replaced folder is kept

    r = runner.invoke(cli, ["backup", "--out", str(home / "inside.tar"), "--data-dir", str(home)])
    assert r.exit_code == 2 and "inside the data folder" in r.output

    # a damaged copy: one byte of the database changed, the manifest kept
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(archive) as src, tarfile.open(damaged, "w") as dst:
        for member in src:
            data = src.extractfile(member).read()
            if member.name == "medscreen.db":
                data = data[:-1] + bytes([data[-1] ^ 1])
            import io
            dst.addfile(member, io.BytesIO(data))
    with pytest.raises(BackupError, match="damaged"):
        verify_backup(damaged)
    r = runner.invoke(cli, ["restore", str(damaged), "--data-dir", str(tmp_path / "new")])
    assert r.exit_code == 2 and not (tmp_path / "new").exists()
