"""Items 8 and 9: storage faults answered 507/503 in words for people; failed saves retried; crash leftovers removed."""

from __future__ import annotations

import errno
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from reliability_support import Browser, World, make_world, png_bytes, small_settings, wait_done
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from medscreen.server import create_app
from medscreen.server import worker as worker_module
from medscreen.store.blobs import BlobStore
from medscreen.store.models import Image


def _fail_writes(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    def refuse(*args, **kwargs):
        raise OSError(code, "simulated")

    monkeypatch.setattr(BlobStore, "_write_temp", staticmethod(refuse))


@pytest.mark.parametrize(("code", "status", "words"), [(errno.ENOSPC, 507, "storage is full"),
                                                       (errno.EROFS, 503, "cannot save files")])
def test_upload_on_full_or_read_only_storage(world: World, browsers: dict[str, Browser],
                                             monkeypatch: pytest.MonkeyPatch, code: int, status: int,
                                             words: str) -> None:
    _fail_writes(monkeypatch, code)
    data = png_bytes(77, 55, (code % 255, 1, 2))
    api = browsers["worker"].api_post(f"/api/v1/visits/{world.visit_fundus}/captures",
                                      files={"file": ("p.png", data, "image/png")}, data={"eye": "OD"})
    assert api.status_code == status and words in api.json()["detail"]
    assert str(world.home) not in api.text and "images/" not in api.text
    page = browsers["worker"].client.post(f"/visits/{world.visit_fundus}/captures",
                                          data={"csrf_token": browsers["worker"].csrf, "eye": "OD"},
                                          files={"file": ("p.png", data, "image/png")})
    assert page.status_code == status and str(world.home) not in page.text
    assert browsers["worker"].client.get("/api/v1/patients").status_code == 200  # reads still work


def test_database_fault_is_503_not_500(world: World, browsers: dict[str, Browser],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import medscreen.server.api as api_module

    def full(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("database or disk is full"))

    monkeypatch.setattr(api_module, "search_patients", full)
    r = browsers["worker"].client.get("/api/v1/patients")
    assert r.status_code == 503 and "try again" in r.json()["detail"]


def test_failed_overlay_write_fails_the_screening_then_is_retried(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = worker_module.ScreeningWorker._save_overlay

    def flaky(self, screening_id, output):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, screening_id, output)

    monkeypatch.setattr(worker_module.ScreeningWorker, "_save_overlay", flaky)
    for world in make_world(tmp_path / "home", small_settings(storage_retry_s=0.3)):
        b = Browser(world.app, "worker")
        sid = b.api_post(f"/api/v1/visits/{world.visit_fundus}/captures",
                         files={"file": ("p.png", png_bytes(80, 60), "image/png")}, data={"eye": "OD"}).json()
        first = wait_done(b.client, sid["screening_id"])
        assert first["status"] == "failed" and "tried again automatically" in first["error"]
        assert not list((world.home / "overlays").glob("*.jpg"))
        time.sleep(0.5)
        assert wait_done(b.client, sid["screening_id"])["status"] == "done"
        assert (world.home / "overlays" / f"{sid['screening_id']}.jpg").is_file()


def test_crash_leftovers_are_removed_at_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = BlobStore(home)
    orphan = store.put(png_bytes(50, 40, (1, 1, 1)))
    temp = store.path(orphan.sha256).parent / ".tmp-0123456789abcdef-dead"
    temp.write_bytes(b"half a file")
    (home / "overlays").mkdir()
    (home / "overlays" / "7.tmp").write_bytes(b"half an overlay")
    for world in make_world(home, small_settings()):
        assert store.find(orphan.sha256) is None and not temp.exists()
        assert not (home / "overlays" / "7.tmp").exists()
        b = Browser(world.app, "worker")
        kept = b.api_post(f"/api/v1/visits/{world.visit_fundus}/captures",
                          files={"file": ("p.png", png_bytes(60, 40), "image/png")}, data={"eye": "OD"})
        assert kept.status_code == 202
        with world.app.state.sessions() as s:
            sha = s.scalar(select(Image.sha256))
    with TestClient(create_app(home, screener=object(), settings=small_settings())):  # a restart keeps it
        assert store.find(sha) is not None
