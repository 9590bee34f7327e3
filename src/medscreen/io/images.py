"""Read image and mask files (PNG, JPEG, TIFF, BMP, WebP, DICOM) into NumPy arrays.

This is the one image loader of medscreen: datasets, training, the screening
pipelines and the server all call it, so every file is decoded, oriented and
scaled the same way, and every failure is an :class:`~medscreen.errors.ImageReadError`
whose message names the file and says what to do.

The format is detected from the file's content, never from its extension.
The pixel count is checked from the header *before* any pixel is decoded
(decompression-bomb guard), and truncated files are refused rather than padded.
No torch here: the screening server imports this module.
"""

from __future__ import annotations

import hashlib
import io
import logging
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from medscreen.errors import ImageReadError
from medscreen.io._common import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    FIX_CORRUPT,
    SNIFF_BYTES,
    SUPPORTED_SUFFIXES,
    check_args,
    check_file,
    check_pixels,
    check_size,
    file_name,
    require_format,
    scale_to_uint8,
)
from medscreen.io._dicom import dicom_mode, dicom_to_uint8, read_dicom_header, read_dicom_pixels

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_BYTES",
    "SUPPORTED_SUFFIXES",
    "ImageInfo",
    "read_image_info",
    "image_info",
    "read_image",
    "decode_image",
    "read_mask",
    "file_sha256",
]

logger = logging.getLogger(__name__)

_EXIF_SWAPS_AXES = frozenset({5, 6, 7, 8})
_ImageMode = Literal["rgb", "gray"]


@dataclass(frozen=True)
class ImageInfo:
    """What an image file's header says, without decoding pixels.

    Attributes:
        path: the file as given.
        width, height: size in pixels *after* EXIF orientation, i.e. the shape
            :func:`read_image` returns is ``(height, width[, 3])``.
        mode: Pillow mode of the stored pixels (``L``, ``RGB``, ``P``, ``I;16``...).
        format: ``PNG``, ``JPEG``, ``TIFF``, ``BMP``, ``WEBP`` or ``DICOM``.
    """

    path: str
    width: int
    height: int
    mode: str
    format: str


# --------------------------------------------------------------------------- Pillow

_guard_lock = threading.Lock()
_guard_depth = 0
_guard_saved: tuple[int | None, bool] = (None, False)


@contextmanager
def _pillow_guard(name: str, fmt: str) -> Iterator[None]:
    """Run Pillow with our own limits and turn its errors into ImageReadError.

    Pillow's decompression-bomb check reads a process-wide setting and can only
    warn or raise with its own message, so while any of our calls is inside
    this block it is switched off (we check the header's size ourselves first)
    and ``LOAD_TRUNCATED_IMAGES`` is forced False; the last call out restores
    both. Other threads using Pillow directly meanwhile see no Pillow limit.
    """
    global _guard_depth, _guard_saved
    with _guard_lock:
        if _guard_depth == 0:
            _guard_saved = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
            Image.MAX_IMAGE_PIXELS = None
            ImageFile.LOAD_TRUNCATED_IMAGES = False
        _guard_depth += 1
    try:
        yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(f"{name}: {exc}; downscale the image or raise MEDSCREEN_MAX_IMAGE_PIXELS") from None
    except (UnidentifiedImageError, SyntaxError) as exc:
        raise ImageReadError(f"{name}: content starts like {fmt} but its header cannot be parsed ({exc}); {FIX_CORRUPT}") from None
    except (OSError, ValueError, EOFError, struct.error, zlib.error) as exc:
        if "not available" in str(exc):
            raise ImageReadError(f"{name}: this Pillow cannot decode it ({exc}); install a Pillow build with {fmt} support") from None
        raise ImageReadError(f"{name}: file is truncated or corrupt ({exc}); {FIX_CORRUPT}") from None
    finally:
        with _guard_lock:
            _guard_depth -= 1
            if _guard_depth == 0:
                Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = _guard_saved


def _exif_orientation(im: Image.Image) -> int:
    """EXIF orientation from the header only (PNG's ``getexif`` would decode the pixels)."""
    if im.format == "TIFF":
        return 1  # Pillow already reports the oriented size of a TIFF and rotates it on load
    try:
        if im.format == "PNG":
            raw = im.info.get("exif")
            exif = Image.Exif()
            if raw:
                exif.load(raw)
        else:
            exif = im.getexif()
        return int(exif.get(0x0112, 1))
    except Exception as exc:  # noqa: BLE001 - a broken EXIF block must not hide a good image
        logger.debug("ignoring unreadable EXIF of %s: %s", im.format, exc)
        return 1


def _open_pillow(fp: BinaryIO, name: str, fmt: str, max_pixels: int) -> ImageFile.ImageFile:
    """Open (header only) and check the pixel count; call inside :func:`_pillow_guard`."""
    im = Image.open(fp, formats=[fmt])
    check_pixels(name, im.width, im.height, max_pixels)
    return im


def _load_oriented(im: ImageFile.ImageFile) -> Image.Image:
    """Decode the pixels (truncation raises) and apply the EXIF orientation in place."""
    im.load()
    ImageOps.exif_transpose(im, in_place=True)
    return im


def _composite_on_black(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``colour * alpha / 255`` rounded: what the image looks like over a black background."""
    if colour.ndim == 3:
        alpha = alpha[..., None]
    return ((colour.astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)


def _pil_to_array(im: Image.Image) -> np.ndarray:
    """uint8 HxW (grey) or HxWx3 (colour) from any Pillow mode; see :func:`read_image`."""
    mode = im.mode
    if mode == "P":
        has_alpha = "transparency" in im.info or (im.palette is not None and im.palette.mode == "RGBA")
        im = im.convert("RGBA" if has_alpha else "RGB")
    elif mode in ("PA", "La", "RGBa"):
        im = im.convert("RGBA")
    elif mode not in ("1", "L", "LA", "RGB", "RGBA", "I", "F") and not mode.startswith("I;"):
        im = im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX
    mode = im.mode
    if mode == "1":
        return np.array(im, dtype=np.uint8) * np.uint8(255)
    if mode in ("L", "RGB"):
        return np.array(im, dtype=np.uint8)
    if mode in ("LA", "RGBA"):
        arr = np.array(im, dtype=np.uint8)
        return _composite_on_black(arr[..., :-1].squeeze(-1) if mode == "LA" else arr[..., :3], arr[..., -1])
    return scale_to_uint8(np.array(im))  # I;16*, I, F


def _to_mode(arr: np.ndarray, mode: _ImageMode) -> np.ndarray:
    """Grey HxW or colour HxWx3 uint8 to the layout the caller asked for."""
    if mode == "rgb":
        return np.ascontiguousarray(np.repeat(arr[..., None], 3, axis=-1)) if arr.ndim == 2 else arr
    if arr.ndim == 3:
        return np.array(Image.fromarray(arr, mode="RGB").convert("L"))  # ITU-R 601-2 luma, as Pillow
    return arr


# --------------------------------------------------------------------------- public API


def read_image_info(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Read an image's size, mode and format from its header, without decoding pixels.

    Args:
        path: image file (PNG, JPEG, TIFF, BMP, WebP or DICOM; detected by content).
        max_pixels: refuse images with more pixels than this.

    Returns:
        The :class:`ImageInfo`; width and height are after EXIF orientation.

    Raises:
        ImageReadError: missing, empty, a directory, not an image, header
            unreadable, or more than ``max_pixels`` pixels.
    """
    check_args(None, max_pixels)
    path = Path(path)
    name = file_name(path)
    fmt = require_format(name, check_file(path, None))
    with path.open("rb") as fp:
        return _header_info(fp, name, fmt, max_pixels, str(path))


def image_info(data: bytes, *, name: str = "<upload>", max_pixels: int = DEFAULT_MAX_PIXELS,
               max_bytes: int = DEFAULT_MAX_BYTES) -> ImageInfo:
    """:func:`read_image_info` for image bytes (an upload): size, mode and format without decoding pixels.

    Raises:
        ImageReadError: empty, too large, not an image, header unreadable, or more than ``max_pixels`` pixels.
    """
    check_args(None, max_pixels)
    check_size(name, len(data), max_bytes)
    fmt = require_format(name, bytes(data[:SNIFF_BYTES]))
    return _header_info(io.BytesIO(data), name, fmt, max_pixels, name)


def _header_info(fp: BinaryIO, name: str, fmt: str, max_pixels: int, label: str) -> ImageInfo:
    if fmt == "DICOM":
        ds, cols, rows = read_dicom_header(fp, name, header_only=True)
        check_pixels(name, cols, rows, max_pixels)
        return ImageInfo(label, cols, rows, dicom_mode(ds), fmt)
    with _pillow_guard(name, fmt), _open_pillow(fp, name, fmt, max_pixels) as im:
        width, height = im.size
        if _exif_orientation(im) in _EXIF_SWAPS_AXES:
            width, height = height, width
        return ImageInfo(label, width, height, im.mode, fmt)


def _decode(fp: BinaryIO, name: str, fmt: str, mode: _ImageMode, max_pixels: int,
            min_side: int | None = None) -> np.ndarray:
    """Shared body of :func:`read_image` and :func:`decode_image`; ``min_side``: see :func:`decode_image`."""
    if fmt == "DICOM":
        arr, ds = read_dicom_pixels(fp, name, max_pixels)
        return _to_mode(dicom_to_uint8(arr, ds, name), mode)
    with _pillow_guard(name, fmt), _open_pillow(fp, name, fmt, max_pixels) as im:
        if min_side is not None and fmt == "JPEG":
            im.draft(im.mode, (min_side, min_side))  # DCT scaling: 1/2, 1/4 or 1/8 while both sides stay ≥ min_side
        return _to_mode(_pil_to_array(_load_oriented(im)), mode)


def read_image(
    path: str | Path,
    *,
    mode: _ImageMode = "rgb",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> np.ndarray:
    """Decode an image file into a uint8 array.

    EXIF orientation is applied. Alpha is dropped by compositing on black,
    palettes are expanded, 1-bit becomes 0/255. 16-bit and 32-bit grey (and
    DICOM without a VOI window) are min-max scaled to 0..255 because the bits
    actually used vary by device (12-bit ultrasound in 16-bit containers,
    signed CT values), so a fixed divisor would give near-black images.
    DICOM: modality LUT (rescale slope/intercept) and VOI LUT or window are
    applied, MONOCHROME1 is inverted, and only the first frame is decoded.

    Args:
        path: image file (PNG, JPEG, TIFF, BMP, WebP or DICOM; detected by content).
        mode: ``"rgb"`` gives HxWx3, ``"gray"`` gives HxW (ITU-R 601 luma).
        max_pixels: refuse images with more pixels than this, before decoding.
        max_bytes: refuse files larger than this.

    Returns:
        ``np.uint8`` array of shape (H, W, 3) or (H, W), values 0..255.

    Raises:
        ImageReadError: missing, empty, too large, not an image, truncated or corrupt.
        ConfigError: ``mode`` or ``max_pixels`` is invalid.
    """
    check_args(mode, max_pixels)
    path = Path(path)
    name = file_name(path)
    fmt = require_format(name, check_file(path, max_bytes))
    with path.open("rb") as fp:
        return _decode(fp, name, fmt, mode, max_pixels)


def decode_image(
    data: bytes,
    *,
    name: str = "<upload>",
    mode: _ImageMode = "rgb",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    min_side: int | None = None,
) -> np.ndarray:
    """Decode image bytes (an upload) exactly as :func:`read_image` decodes a file.

    Args:
        data: the file's bytes.
        name: shown in error messages (the upload's file name).
        mode, max_pixels, max_bytes: as for :func:`read_image`.
        min_side: where a smaller image will do (checking that an upload decodes), a JPEG is
            decoded at a reduced scale (Pillow's ``draft``: 1/2, 1/4 or 1/8) whose sides stay
            at least ``min_side``; the whole file is still read, so truncation is still found.
            Other formats are decoded at full size. None: full size.

    Returns:
        ``np.uint8`` array of shape (H, W, 3) or (H, W).

    Raises:
        ImageReadError: empty, too large, not an image, truncated or corrupt.
    """
    check_args(mode, max_pixels)
    check_size(name, len(data), max_bytes)
    fmt = require_format(name, bytes(data[:SNIFF_BYTES]))
    return _decode(io.BytesIO(data), name, fmt, mode, max_pixels, min_side)


def _require_binary(name: str, values: np.ndarray) -> np.ndarray:
    """Refuse a mask channel with more than two distinct values (a JPEG-saved mask, a photo)."""
    flat = values.ravel()
    n = int(np.count_nonzero(np.bincount(flat, minlength=2))) if flat.dtype == np.uint8 else len(np.unique(flat))
    if n > 2:
        raise ImageReadError(
            f"{name}: mask has {n} distinct values, expected 2 (0 = background, non-zero = lesion/disc); "
            "a mask saved as JPEG or an image given as a mask looks like this — re-save it as PNG with two values"
        )
    return values > 0


def _pil_mask(im: Image.Image, name: str = "<mask>") -> np.ndarray:
    """Foreground (bool HxW) of a decoded mask, from raw stored values; see :func:`read_mask`."""
    mode = im.mode
    if mode == "1":
        return np.array(im, dtype=bool)
    if mode in ("P", "L", "I", "F") or mode.startswith("I;"):
        return _require_binary(name, np.array(im))  # palette: raw indices, so a {0,1} TIFF mask keeps index 1
    if mode in ("LA", "La", "PA"):
        return _require_binary(name, np.array(im.getchannel(0)))
    rgb = np.array(im if mode in ("RGB", "RGBA") else im.convert("RGB"))
    return np.stack([_require_binary(name, rgb[..., c]) for c in range(3)], -1).any(axis=-1)


def _read_one_mask(path: Path, max_pixels: int) -> np.ndarray:
    """One mask file as bool HxW (non-zero pixels)."""
    name = file_name(path)
    fmt = require_format(name, check_file(path, DEFAULT_MAX_BYTES))
    with path.open("rb") as fp:
        if fmt == "DICOM":
            arr, _ = read_dicom_pixels(fp, name, max_pixels)
            return (arr > 0).any(axis=-1) if arr.ndim == 3 else arr > 0
        with _pillow_guard(name, fmt), _open_pillow(fp, name, fmt, max_pixels) as im:
            return _pil_mask(_load_oriented(im), name)


def read_mask(paths: str | Path | Sequence[str | Path], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read one or more mask files as one boolean mask: the union of their non-zero pixels.

    Values are never rescaled: palette images are read as raw indices (a TIFF
    mask with values {0, 1} gives foreground where 1), grey and 16-bit as
    stored, 1-bit as is; colour masks count a pixel as foreground when any
    colour channel is non-zero (alpha ignored), i.e. wherever it is not black.

    Args:
        paths: one mask file or several masks of the same image (BUSI's
            ``_mask``, ``_mask_1``...).
        max_pixels: refuse masks with more pixels than this, before decoding.

    Returns:
        ``bool`` array of shape (H, W).

    Raises:
        ImageReadError: no path given, any file unreadable, a mask with more than
            two distinct values, or the masks differ in size.
    """
    check_args(None, max_pixels)
    items = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not items:
        raise ImageReadError("read_mask: no mask files given; pass at least one mask path")
    union = _read_one_mask(items[0], max_pixels)
    for path in items[1:]:
        mask = _read_one_mask(path, max_pixels)
        if mask.shape != union.shape:
            raise ImageReadError(
                f"{file_name(items[0])}, {file_name(path)}: masks of one image differ in size "
                f"({union.shape[1]}×{union.shape[0]} vs {mask.shape[1]}×{mask.shape[0]}); "
                "re-export the masks at the image's size"
            )
        union |= mask
    return union


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes (for duplicate detection and model cards).

    Raises:
        ImageReadError: the file is missing or cannot be read.
    """
    path = Path(path)
    try:
        with path.open("rb") as fp:
            return hashlib.file_digest(fp, "sha256").hexdigest()
    except FileNotFoundError:
        raise ImageReadError(f"{file_name(path)}: file not found ({path}); check the path") from None
    except OSError as exc:
        raise ImageReadError(f"{file_name(path)}: cannot be read ({exc.strerror or exc}); check the file") from None
