"""Items 3, 7, 14: damaged stored images, decompression bombs, reduced-size decoding, bounded decodes, messages."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from reliability_support import Browser, Peak, World, png_bytes, run_threads, wait_done
from sqlalchemy import select

from medscreen.errors import ImageReadError
from medscreen.io.images import decode_image
from medscreen.store import blobs as blobs_module
from medscreen.store.blobs import BlobStore, DamagedBlobError
from medscreen.store.models import AuditEvent

pytestmark = pytest.mark.sqlite_only  # image decoding and the blob store: nothing to compare across databases


def _jpeg(width: int, height: int) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    PILImage.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other content
    path.chmod(0o600)
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------------------- item 3: content-addressed store


def test_damaged_copy_is_replaced_when_the_same_image_comes_again(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = png_bytes(80, 60)
    first = store.put(data)
    _damage(store.path(first.sha256))
    with pytest.raises(DamagedBlobError, match="upload the same photo again"):
        store.read(first.sha256)
    again = store.put(data)
    assert again.repaired and not again.created
    assert store.read(first.sha256) == data


def test_worker_refuses_a_damaged_image_and_a_new_upload_repairs_it(world: World,
                                                                     browsers: dict[str, Browser]) -> None:
    worker = browsers["worker"]
    data = png_bytes(90, 70, colour=(10, 120, 30))
    url = f"/api/v1/visits/{world.visit_fundus}/captures"
    first = worker.api_post(url, files={"file": ("a.png", data, "image/png")}, data={"eye": "OD"}).json()
    assert wait_done(worker.client, first["screening_id"])["status"] == "done"
    store: BlobStore = world.app.state.blobs
    sha = next(sha for sha, _ in store.iter_files() if store.read(sha) == data)
    _damage(store.path(sha))
    submit = world.app.state.worker.submit  # re-screen the same capture from the damaged copy
    with world.app.state.sessions() as s:
        from medscreen.store.models import Screening

        screening = s.get(Screening, first["screening_id"])
        screening.status = screening.status.PENDING
        s.commit()
    submit(first["screening_id"]).result(10)
    body = worker.client.get(f"/api/v1/screenings/{first['screening_id']}").json()
    assert body["status"] == "failed" and "damaged" in body["error"]
    second = worker.api_post(url, files={"file": ("a.png", data, "image/png")}, data={"eye": "OS"}).json()
    assert wait_done(worker.client, second["screening_id"])["status"] == "done"
    assert store.read(sha) == data
    with world.app.state.sessions() as s:
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.action == "image.repair",
                                                    AuditEvent.object_id == sha)) is not None


# ---------------------------------------------------------------------------- item 7 and 14: sizes and messages


@pytest.mark.parametrize(("size", "visit", "status", "words"), [
    ((2100, 2100), "fundus", 413, "more than this app accepts"),      # 4.4 MP over the suite's 4 MP fundus cap
    ((1100, 1000), "ultrasound", 413, "more than this app accepts"),  # 1.1 MP over the 1 MP ultrasound cap
    ((1, 1), "fundus", 422, "too small to screen"),
    ((6000, 1), "fundus", 422, "too small to screen"),
    ((2000, 100), "ultrasound", 422, "thin strip"),
])
def test_image_sizes_are_refused_with_words_for_people(world: World, browsers: dict[str, Browser],
                                                       size: tuple[int, int], visit: str, status: int,
                                                       words: str) -> None:
    visit_id = world.visit_fundus if visit == "fundus" else world.visit_us
    data = png_bytes(*size)
    r = browsers["worker"].api_post(f"/api/v1/visits/{visit_id}/captures", files={"file": ("p.png", data, "image/png")},
                                    data={"eye": "OD"} if visit == "fundus" else {})
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert words in detail and "MEDSCREEN" not in detail and "dark" not in detail and str(world.home) not in detail


def test_a_bomb_over_the_global_limit_is_refused_in_plain_words(world: World, browsers: dict[str, Browser]) -> None:
    data = png_bytes(7700, 7700)  # 59 MP in a few tens of kB
    assert len(data) < 300_000
    r = browsers["worker"].api_post(f"/api/v1/visits/{world.visit_fundus}/captures",
                                    files={"file": ("bomb.png", data, "image/png")}, data={"eye": "OD"})
    assert r.status_code == 413 and "MEDSCREEN" not in r.json()["detail"]


def test_jpeg_is_checked_at_reduced_size_but_still_fully_read() -> None:
    data = _jpeg(2400, 1600)
    small = decode_image(data, min_side=512)
    assert small.shape[:2] == (800, 1200)  # DCT scaling 1/2: both sides stay ≥ 512
    assert decode_image(data).shape[:2] == (1600, 2400)
    with pytest.raises(ImageReadError, match="truncated"):
        decode_image(data[: len(data) // 2], min_side=512)


def test_stored_size_is_the_full_size(tmp_path: Path) -> None:
    blob = BlobStore(tmp_path).put(_jpeg(2400, 1600))
    assert (blob.width, blob.height) == (2400, 1600)


def test_decodes_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    peak, real = Peak(0.05), blobs_module.decode_image

    def slow_decode(*args, **kwargs):
        with peak:
            return real(*args, **kwargs)

    monkeypatch.setattr(blobs_module, "decode_image", slow_decode)
    store = BlobStore(tmp_path, max_concurrent_decodes=2)
    run_threads(store.put, [(png_bytes(40 + i, 40),) for i in range(8)])
    assert peak.most == 2 and len(list(store.iter_files())) == 8
