"""Checks and conversions shared by the image and DICOM readers (private to :mod:`medscreen.io`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medscreen.config import DEFAULT_MAX_IMAGE_BYTES, DEFAULT_MAX_IMAGE_PIXELS
from medscreen.errors import ConfigError, ImageReadError, did_you_mean

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "FIX_CORRUPT",
    "FORMATS_TEXT",
    "SNIFF_BYTES",
    "SUPPORTED_SUFFIXES",
    "check_args",
    "check_file",
    "check_pixels",
    "check_size",
    "file_name",
    "require_format",
    "scale_to_uint8",
    "sniff_format",
]

DEFAULT_MAX_PIXELS: int = DEFAULT_MAX_IMAGE_PIXELS
"""Largest image accepted, in pixels (the default of ``Settings.limits.max_image_pixels``)."""
DEFAULT_MAX_BYTES: int = DEFAULT_MAX_IMAGE_BYTES
"""Largest image file accepted, in bytes (the default of ``Settings.limits.max_image_bytes``)."""
SUPPORTED_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".dcm"})
"""Suffixes of supported files; DICOM files without a suffix are recognised by content."""

FIX_CORRUPT = "re-export or re-download it"
FORMATS_TEXT = "PNG/JPEG/TIFF/BMP/WebP/DICOM"
SNIFF_BYTES = 132


def file_name(path: Path) -> str:
    """The name shown in messages: the file's name, or the whole path when it has none."""
    return path.name or str(path)


def check_file(path: Path, max_bytes: int | None) -> bytes:
    """Refuse a missing, empty, oversized or non-regular file; return its first bytes."""
    name = file_name(path)
    try:
        if path.is_dir():
            raise ImageReadError(f"{name}: is a directory, not an image file; give the path of an image file")
        size = path.stat().st_size
        if not path.is_file():
            raise ImageReadError(f"{name}: not a regular file; give the path of an image file")
        check_size(name, size, max_bytes)
        with path.open("rb") as fp:
            return fp.read(SNIFF_BYTES)
    except FileNotFoundError:
        raise ImageReadError(f"{name}: file not found ({path}); check the path") from None
    except PermissionError:
        raise ImageReadError(f"{name}: permission denied ({path}); make the file readable") from None
    except OSError as exc:
        raise ImageReadError(f"{name}: cannot be read ({exc.strerror or exc}); check the file and its disk") from None


def check_size(name: str, size: int, max_bytes: int | None) -> None:
    """Refuse an empty file, or one over ``max_bytes`` (None: no limit)."""
    if size == 0:
        raise ImageReadError(f"{name}: file is empty (0 bytes); {FIX_CORRUPT}")
    if max_bytes is not None and size > max_bytes:
        raise ImageReadError(
            f"{name}: file is {size:,} bytes, over the limit of {max_bytes:,}; "
            "compress or downscale the image, or raise MEDSCREEN_MAX_IMAGE_BYTES"
        )


def sniff_format(head: bytes) -> str | None:
    """The format named by the file's magic bytes, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head.startswith(b"BM"):
        return "BMP"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[128:132] == b"DICM":
        return "DICOM"
    return None


def require_format(name: str, head: bytes) -> str:
    """The format of ``head``, or ImageReadError saying the file is not an image."""
    fmt = sniff_format(head)
    if fmt is None:
        raise ImageReadError(
            f"{name}: not an image (content is not {FORMATS_TEXT}); "
            f"supported formats are {', '.join(sorted(SUPPORTED_SUFFIXES))}"
        )
    return fmt


def check_args(mode: str | None, max_pixels: int) -> None:
    """Validate the caller's ``mode`` (None: not applicable) and ``max_pixels``."""
    if mode is not None and mode not in ("rgb", "gray"):
        raise ConfigError(f"mode must be 'rgb' or 'gray', got {mode!r}" + did_you_mean(mode, ["rgb", "gray"]))
    if not isinstance(max_pixels, int) or max_pixels <= 0:
        raise ConfigError(f"max_pixels must be a positive integer, got {max_pixels!r}")


def check_pixels(name: str, width: int, height: int, max_pixels: int) -> None:
    """Refuse an empty size, or more than ``max_pixels`` pixels (decompression-bomb guard)."""
    if width <= 0 or height <= 0:
        raise ImageReadError(f"{name}: header gives an empty size {width}×{height}; {FIX_CORRUPT}")
    if width * height > max_pixels:
        raise ImageReadError(
            f"{name}: {width}×{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,} "
            "(decompression-bomb guard); downscale the image or raise MEDSCREEN_MAX_IMAGE_PIXELS"
        )


def scale_to_uint8(arr: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Map ``[lo, hi]`` (default: the array's finite min and max) linearly onto 0..255."""
    a = np.asarray(arr, dtype=np.float32)
    if lo is None or hi is None:
        finite = a[np.isfinite(a)]
        if finite.size == 0:
            return np.zeros(a.shape, dtype=np.uint8)
        lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        return np.zeros(a.shape, dtype=np.uint8)
    out = (np.nan_to_num(a, nan=lo) - lo) * np.float32(255.0 / (hi - lo))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
