"""DICOM decoding with pydicom (private to :mod:`medscreen.io`; pydicom is imported lazily)."""

from __future__ import annotations

import logging
from typing import Any, BinaryIO

import numpy as np

from medscreen.errors import ImageReadError
from medscreen.io._common import FIX_CORRUPT, check_pixels, scale_to_uint8

__all__ = ["dicom_mode", "dicom_to_uint8", "read_dicom_header", "read_dicom_pixels"]

logger = logging.getLogger(__name__)


def read_dicom_header(fp: BinaryIO, name: str, *, header_only: bool) -> tuple[Any, int, int]:
    """The dataset (``pydicom.Dataset``), its width and its height."""
    import pydicom  # noqa: PLC0415 - only DICOM inputs pay for the import

    try:
        ds = pydicom.dcmread(fp, stop_before_pixels=header_only)
        rows, cols = int(ds.Rows), int(ds.Columns)
    except AttributeError:
        raise ImageReadError(f"{name}: DICOM file holds no image (no Rows/Columns): not an image object, or truncated; give an image DICOM file") from None
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on bad files
        raise ImageReadError(f"{name}: DICOM header cannot be parsed ({exc}); {FIX_CORRUPT}") from None
    return ds, cols, rows


def dicom_mode(ds: Any) -> str:
    """The Pillow mode that best describes the stored pixels (``L``, ``I;16``, ``RGB``...)."""
    if int(ds.get("SamplesPerPixel", 1)) > 1:
        return "RGB"
    bits = int(ds.get("BitsAllocated", 8))
    return {1: "1", 8: "L"}.get(bits, "I;16" if bits <= 16 else "I")


def read_dicom_pixels(fp: BinaryIO, name: str, max_pixels: int) -> tuple[np.ndarray, Any]:
    """Raw first-frame pixels and the dataset, after the header's size check."""
    from pydicom.pixels import pixel_array  # noqa: PLC0415

    ds, cols, rows = read_dicom_header(fp, name, header_only=False)
    check_pixels(name, cols, rows, max_pixels)
    if "PixelData" not in ds:
        raise ImageReadError(f"{name}: DICOM file has no pixel data; give an image DICOM file")
    try:
        arr = pixel_array(ds, index=0)
    except (NotImplementedError, RuntimeError) as exc:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        syntax_name = getattr(syntax, "name", syntax)
        detail = " ".join(str(exc).split())
        raise ImageReadError(
            f"{name}: cannot decode DICOM pixel data in transfer syntax {syntax_name} ({detail}); if the file is "
            "intact, install pylibjpeg with pylibjpeg-libjpeg/-openjpeg, or convert it to uncompressed DICOM or PNG"
        ) from None
    except Exception as exc:  # noqa: BLE001
        raise ImageReadError(f"{name}: DICOM pixel data is truncated or corrupt ({exc}); {FIX_CORRUPT}") from None
    return arr, ds


def _voi_range(ds: Any) -> tuple[float, float] | None:
    """Output range of the dataset's VOI LUT/window, found by sending it extreme inputs."""
    from pydicom.pixels import apply_voi_lut  # noqa: PLC0415

    try:
        ends = apply_voi_lut(np.array([-(2**31), 2**31 - 1], dtype=np.int64), ds)
        lo, hi = float(np.min(ends)), float(np.max(ends))
    except Exception as exc:  # noqa: BLE001 - fall back to min-max
        logger.debug("VOI output range unknown (%s); using min-max", exc)
        return None
    return (lo, hi) if hi > lo else None


def dicom_to_uint8(arr: np.ndarray, ds: Any, name: str) -> np.ndarray:
    """uint8 HxW or HxWx3 from DICOM pixels: modality LUT, VOI window, MONOCHROME1 inverted."""
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut  # noqa: PLC0415

    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    try:
        if photometric == "PALETTE COLOR":
            arr = apply_color_lut(arr, ds)
        if arr.ndim == 3:  # RGB (pydicom already converted YBR to RGB)
            return arr if arr.dtype == np.uint8 else scale_to_uint8(arr)
        arr = apply_modality_lut(arr, ds)
        windowed = ds.get("VOILUTSequence") or (ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None)
        span = None
        if windowed:
            span = _voi_range(ds)
            arr = apply_voi_lut(arr, ds)
    except Exception as exc:  # noqa: BLE001 - bad LUT/window attributes
        raise ImageReadError(f"{name}: DICOM lookup-table or window attributes are invalid ({exc}); {FIX_CORRUPT}") from None
    out = scale_to_uint8(arr, *span) if span else scale_to_uint8(arr)
    return 255 - out if photometric == "MONOCHROME1" else out
