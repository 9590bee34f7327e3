"""The bad-input corpus: files a clinic app meets (or is sent), each refused with its answer and nothing stored."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage
from reliability_support import Browser, World, png_bytes
from sqlalchemy import func, select

from medscreen.store.models import Capture, Image

#: bad files are refused while decoding, before any SQL: nothing to compare across databases
pytestmark = pytest.mark.sqlite_only


def _jpeg(width: int = 200, height: int = 150) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(np.full((height, width, 3), 90, np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width × height`` and whose pixels are a tiny compressed stream."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


def _bad_crc(data: bytes) -> bytes:
    return data[:29] + bytes([data[29] ^ 0xFF]) + data[30:]


#: name → (file bytes, expected status, words the answer contains)
CORPUS: dict[str, tuple[bytes, int, str]] = {
    "empty": (b"", 422, "empty"),
    "text": (b"patient notes, not a photo\n" * 10, 415, "not an image"),
    "html": (b"<!doctype html><script>alert(1)</script>", 415, "not an image"),
    "svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000"/>', 415, "not an image"),
    "pdf": (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", 415, "not an image"),
    "zip": (b"PK\x03\x04" + b"\0" * 200, 415, "not an image"),
    "gif": (b"GIF89a" + b"\0" * 200, 415, "not an image"),
    "truncated png": (png_bytes(300, 200, (1, 2, 3))[:-40], 422, "truncated or corrupt"),
    "png bad crc": (_bad_crc(png_bytes(300, 200, (4, 5, 6))), 422, ""),
    "truncated jpeg": (_jpeg()[:400], 422, "truncated or corrupt"),
    "png header only": (b"\x89PNG\r\n\x1a\n", 422, ""),
    "bomb 7700 x 7700": (_png_header_only(7700, 7700), 413, "than this app accepts"),
    "bomb 60000 x 60000": (_png_header_only(60000, 60000), 413, "than this app accepts"),
    "one pixel": (png_bytes(1, 1), 422, "too small to screen"),
    "60000 x 1": (_png_header_only(60000, 1), 422, "too small to screen"),
    "strip 4000 x 300": (png_bytes(4000, 300), 422, "thin strip"),
    "zero size header": (_png_header_only(0, 0), 422, ""),
    "jpeg named png": (_jpeg()[:300] + b"\0" * 10, 422, "truncated or corrupt"),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_bad_file_is_refused_and_nothing_is_stored(world: World, browsers: dict[str, Browser], case: str) -> None:
    data, status, words = CORPUS[case]
    with world.app.state.sessions() as s:
        before = (s.scalar(select(func.count()).select_from(Image)), s.scalar(select(func.count()).select_from(Capture)))
    files_before = sorted((world.home / "images").rglob("*")) if (world.home / "images").is_dir() else []
    r = browsers["worker"].api_post(f"/api/v1/visits/{world.visit_fundus}/captures",
                                    files={"file": ("photo.png", data, "image/png")}, data={"eye": "OD"})
    assert r.status_code == status, (case, r.status_code, r.text[:300])
    detail = r.json()["detail"]
    assert words in detail and "MEDSCREEN" not in detail and str(world.home) not in detail, detail
    with world.app.state.sessions() as s:
        after = (s.scalar(select(func.count()).select_from(Image)), s.scalar(select(func.count()).select_from(Capture)))
    assert after == before
    assert sorted((world.home / "images").rglob("*")) == files_before if files_before else \
        not any(p.is_file() for p in (world.home / "images").rglob("*"))

