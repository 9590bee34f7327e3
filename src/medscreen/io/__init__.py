"""Reading images and masks: any supported file → NumPy array. No torch here."""

from __future__ import annotations

from medscreen.io.images import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    SUPPORTED_SUFFIXES,
    ImageInfo,
    decode_image,
    file_sha256,
    read_image,
    read_image_info,
    read_mask,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "SUPPORTED_SUFFIXES",
    "ImageInfo",
    "decode_image",
    "file_sha256",
    "read_image",
    "read_image_info",
    "read_mask",
]
