"""Content-addressed image files in the data folder: each distinct image is stored once.

A file's name is its SHA-256 and the extension of its format, detected from
its content by :mod:`medscreen.io.images` (never from the upload's name):
``images/ab/cd/abcd….png``, fanned out by the hash's first two byte pairs so
no folder grows past a few hundred entries; folders are 0700 and files 0600
(patient images: the owner only). Writes are atomic — a temporary
file in the target folder, fsync, then :func:`os.replace` — so a reader or a
crash never leaves half a file under a final name. Putting the same bytes again
writes nothing — after the stored copy's SHA-256 is checked: a copy damaged on
disk is replaced (and reported in :attr:`StoredBlob.repaired`), and
:meth:`BlobStore.read` refuses a damaged copy (:class:`DamagedBlobError`)
rather than hand it to the screener.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from medscreen.io.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, decode_image, image_info, read_image_info
from medscreen.store.errors import StorageUnavailableError, StoreError

__all__ = ["CHECK_SIDE", "MEDIA_TYPES", "BlobStore", "DamagedBlobError", "StoredBlob"]

logger = logging.getLogger(__name__)

#: format named by medscreen.io → (media type, file extension)
MEDIA_TYPES: dict[str, tuple[str, str]] = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "TIFF": ("image/tiff", "tif"),
    "BMP": ("image/bmp", "bmp"),
    "WEBP": ("image/webp", "webp"),
    "DICOM": ("application/dicom", "dcm"),
}
_EXTENSIONS = frozenset(ext for _, ext in MEDIA_TYPES.values())
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TMP_PREFIX = ".tmp-"
#: errno values that mean "no space left" (disk full, quota exceeded)
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: a JPEG is checked (fully read, decoded at a reduced DCT scale) at no less than this many pixels a side
CHECK_SIDE = 512


class DamagedBlobError(StoreError):
    """A stored image's bytes no longer match its SHA-256 (damaged on disk)."""


@dataclass(frozen=True)
class StoredBlob:
    """An image file in the store.

    Attributes:
        sha256: hex SHA-256 of the bytes.
        relative_path: POSIX path relative to the store's root (``images/ab/cd/<sha>.png``).
        media_type: ``image/png``, ``image/jpeg``, ... or ``application/dicom``.
        byte_size: file size in bytes.
        width, height: size in pixels after EXIF orientation.
        created: True when this call wrote the file, False when it was already stored.
        repaired: True when a stored copy was damaged (its SHA-256 did not match) and this call replaced it.
    """

    sha256: str
    relative_path: str
    media_type: str
    byte_size: int
    width: int
    height: int
    created: bool
    repaired: bool = False


class BlobStore:
    """Image files under ``root`` (the data folder), addressed by SHA-256.

    Args:
        root: the data folder; files go in ``root/images``.
        max_pixels, max_bytes: uploads over these limits are refused
            (pass ``Settings.max_image_pixels`` / ``max_image_bytes``).
        max_concurrent_decodes: images decoded at once by :meth:`put` (each decode may take
            hundreds of MB; others wait).
    """

    def __init__(
        self, root: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES,
        max_concurrent_decodes: int = 2,
    ) -> None:
        self.root = Path(root).expanduser().resolve()
        self.max_pixels = max_pixels
        self.max_bytes = max_bytes
        self._decode_slots = threading.BoundedSemaphore(max_concurrent_decodes)

    def __repr__(self) -> str:
        return f"BlobStore({str(self.root)!r})"

    def put(self, data: bytes, *, name: str = "<upload>", max_pixels: int | None = None) -> StoredBlob:
        """Validate image bytes and store them once; idempotent for the same content.

        The bytes are fully read and decoded first (format from content, size and
        pixel limits, truncation; a JPEG at a reduced scale, see :data:`CHECK_SIDE`),
        so nothing that :func:`medscreen.io.images.read_image` would refuse is ever
        stored. At most ``max_concurrent_decodes`` decodes run at once. When the
        content is already stored, the stored copy's SHA-256 is checked and a
        damaged copy is replaced (``repaired``; logged as a warning).

        Args:
            data: the file's bytes.
            name: the upload's file name, shown in error messages only.
            max_pixels: a lower pixel limit for this image (the clinic's per-modality limit);
                default the store's ``max_pixels``.

        Raises:
            ImageReadError: empty, too large, not a supported image, truncated or corrupt
                (from :mod:`medscreen.io.images`, unchanged).
            StoreError: the file cannot be written (disk full, permissions).
        """
        limit = min(self.max_pixels, max_pixels or self.max_pixels)
        info = image_info(data, name=name, max_pixels=limit, max_bytes=self.max_bytes)
        width, height = info.width, info.height
        with self._decode_slots:
            decode_image(data, name=name, max_pixels=limit, max_bytes=self.max_bytes, min_side=CHECK_SIDE)
        sha = hashlib.sha256(data).hexdigest()
        existing = self.find(sha)
        if existing is not None and self._intact(existing, sha):
            media_type = next(mt for mt, ext in MEDIA_TYPES.values() if ext == existing.suffix[1:])
            return StoredBlob(sha, self._relative(existing), media_type, len(data), width, height, created=False)
        folder = self._folder(sha)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for level in (folder.parent.parent, folder.parent, folder):  # images/ab/cd, each 0700
                level.mkdir(mode=0o700, exist_ok=True)
            tmp = self._write_temp(folder, sha, data)
            try:
                media_type, ext = MEDIA_TYPES[read_image_info(tmp, max_pixels=self.max_pixels).format]
                final = folder / f"{sha}.{ext}"
                os.replace(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            _fsync_dir(folder)
        except OSError as exc:
            raise StorageUnavailableError(
                f"cannot write image {name} to {folder}: {exc.strerror or exc}; "
                "check the data folder's free space and permissions", full=exc.errno in _FULL_ERRNOS,
            ) from None
        if existing is not None:  # same name, other content: a damaged copy, now replaced
            if existing != final:
                existing.unlink(missing_ok=True)
            logger.warning("replaced damaged image file %s (its SHA-256 did not match)", self._relative(final))
        logger.debug("stored image %s (%d bytes)", sha, len(data))
        return StoredBlob(sha, self._relative(final), media_type, len(data), width, height, created=existing is None,
                          repaired=existing is not None)

    @staticmethod
    def _intact(path: Path, sha256: str) -> bool:
        """Whether the file's bytes still hash to ``sha256``."""
        try:
            with path.open("rb") as fp:
                return hashlib.file_digest(fp, "sha256").hexdigest() == sha256
        except OSError:
            return False

    def find(self, sha256: str) -> Path | None:
        """The stored file of ``sha256``, or None when it is not stored."""
        folder = self._folder(sha256)
        for ext in sorted(_EXTENSIONS):
            candidate = folder / f"{sha256}.{ext}"
            if candidate.is_file():
                return candidate
        return None

    def path(self, sha256: str) -> Path:
        """The absolute path of a stored image.

        Raises:
            StoreError: no file with this hash is stored.
        """
        found = self.find(sha256)
        if found is None:
            raise StoreError(
                f"image {sha256} is not in the store at {self.root / 'images'}; "
                "it was deleted or the data folder (MEDSCREEN_HOME) is not the one the database belongs to"
            )
        return found

    def open(self, sha256: str) -> BinaryIO:
        """The stored image opened for binary reading (close it, or use ``with``)."""
        return self.path(sha256).open("rb")

    def read(self, sha256: str) -> bytes:
        """The stored image's bytes, checked against their SHA-256.

        Raises:
            StoreError: no file with this hash is stored.
            DamagedBlobError: the file's bytes no longer match (logged as an error).
        """
        path = self.path(sha256)
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            logger.error("image file %s is damaged: its SHA-256 does not match its name", self._relative(path))
            raise DamagedBlobError(f"the stored copy of image {sha256[:12]} is damaged; upload the same photo "
                                   "again to replace it")
        return data

    def remove(self, sha256: str) -> bool:
        """Delete a stored image (only when no database row refers to it); True if a file was deleted."""
        found = self.find(sha256)
        if found is None:
            return False
        found.unlink(missing_ok=True)
        _fsync_dir(found.parent)
        logger.debug("removed image %s", sha256)
        return True

    def iter_files(self) -> Iterator[tuple[str, Path]]:
        """Every stored image as ``(sha256, path)``; temporary files of unfinished writes are skipped."""
        images = self.root / "images"
        if not images.is_dir():
            return
        for path in sorted(images.glob("*/*/*")):
            sha, _, ext = path.name.partition(".")
            if _SHA256.fullmatch(sha) and ext in _EXTENSIONS:
                yield sha, path

    def iter_temp_files(self) -> Iterator[Path]:
        """Temporary files left by writes that did not finish (a crash); safe to delete once old."""
        images = self.root / "images"
        if images.is_dir():
            yield from sorted(images.glob(f"*/*/{_TMP_PREFIX}*"))

    def _folder(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise StoreError(f"{sha256!r} is not a SHA-256 hex digest (64 lower-case hex digits)")
        return self.root / "images" / sha256[:2] / sha256[2:4]

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    @staticmethod
    def _write_temp(folder: Path, sha: str, data: bytes) -> Path:
        tmp = folder / f"{_TMP_PREFIX}{sha[:16]}-{secrets.token_hex(4)}"
        try:
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fp:
                fp.write(data)
                fp.flush()
                os.fsync(fp.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp


def _fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
