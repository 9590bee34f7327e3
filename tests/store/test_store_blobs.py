"""Content-addressed image files: validation, layout, idempotence, atomic writes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from store_support import png_bytes

from medscreen.errors import ImageReadError
from medscreen.store.blobs import BlobStore
from medscreen.store.errors import StoreError


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_stores_by_hash_with_sniffed_extension(blobs: BlobStore) -> None:
    data = png_bytes(30, 20)
    blob = blobs.put(data, name="photo.jpg")  # the name's extension is ignored
    sha = hashlib.sha256(data).hexdigest()
    assert blob.sha256 == sha
    assert blob.relative_path == f"images/{sha[:2]}/{sha[2:4]}/{sha}.png"
    assert (blob.media_type, blob.byte_size, blob.width, blob.height, blob.created) == (
        "image/png",
        len(data),
        30,
        20,
        True,
    )
    assert blobs.path(sha) == blobs.root / blob.relative_path
    assert blobs.read(sha) == data
    with blobs.open(sha) as fp:
        assert fp.read() == data


def test_jpeg_gets_jpg_extension(blobs: BlobStore) -> None:
    blob = blobs.put(png_bytes(fmt="JPEG"), name="scan.png")
    assert blob.relative_path.endswith(".jpg") and blob.media_type == "image/jpeg"


def test_put_is_idempotent(blobs: BlobStore) -> None:
    data = png_bytes()
    first = blobs.put(data)
    mtime = blobs.path(first.sha256).stat().st_mtime_ns
    second = blobs.put(data)
    assert second.created is False
    assert (second.sha256, second.relative_path) == (first.sha256, first.relative_path)
    assert blobs.path(first.sha256).stat().st_mtime_ns == mtime
    assert len(_all_files(blobs.root)) == 1


def test_a_damaged_copy_is_replaced(blobs: BlobStore) -> None:
    data = png_bytes()
    blob = blobs.put(data)
    blobs.path(blob.sha256).write_bytes(data[:10])
    again = blobs.put(data)
    assert again.created is False
    assert blobs.read(blob.sha256) == data


@pytest.mark.parametrize("data", [b"", b"not an image at all", png_bytes()[:40]], ids=["empty", "text", "truncated"])
def test_invalid_bytes_raise_image_read_error_and_store_nothing(blobs: BlobStore, data: bytes) -> None:
    with pytest.raises(ImageReadError, match="upload.png"):
        blobs.put(data, name="upload.png")
    assert _all_files(blobs.root) == []


def test_limits_come_from_the_store(data_home: Path) -> None:
    with pytest.raises(ImageReadError, match="pixels"):
        BlobStore(data_home, max_pixels=100).put(png_bytes(20, 20))
    with pytest.raises(ImageReadError, match="bytes"):
        BlobStore(data_home, max_bytes=10).put(png_bytes())


def test_failed_rename_leaves_no_file(blobs: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StoreError, match="No space left.*free space"):
        blobs.put(png_bytes(), name="od.png")
    assert _all_files(blobs.root) == []


def test_write_goes_through_a_fsynced_temp_file(blobs: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str]] = []
    real_replace, real_fsync = os.replace, os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: seen.append(("fsync", "")) or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: seen.append(("replace", Path(a).name)) or real_replace(a, b))
    blob = blobs.put(png_bytes())
    assert seen[0] == ("fsync", "")  # the data is on disk before the rename
    assert seen[1][0] == "replace" and seen[1][1].startswith(".tmp-")
    assert blobs.path(blob.sha256).exists()


def test_temp_files_are_not_blobs(blobs: BlobStore) -> None:
    blob = blobs.put(png_bytes())
    leftover = blobs.path(blob.sha256).parent / ".tmp-deadbeef-0000"
    leftover.write_bytes(b"half")
    assert [sha for sha, _ in blobs.iter_files()] == [blob.sha256]
    assert list(blobs.iter_temp_files()) == [leftover]


def test_missing_and_malformed_hashes(blobs: BlobStore) -> None:
    assert blobs.find("0" * 64) is None
    with pytest.raises(StoreError, match="not in the store"):
        blobs.path("0" * 64)
    with pytest.raises(StoreError, match="SHA-256"):
        blobs.path("../../etc/passwd")


def test_remove(blobs: BlobStore) -> None:
    blob = blobs.put(png_bytes())
    assert blobs.remove(blob.sha256) is True
    assert blobs.find(blob.sha256) is None
    assert blobs.remove(blob.sha256) is False
