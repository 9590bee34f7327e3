"""What the screening pipelines accept: a path, file bytes or an array, decoded once into RGB.

A batch is decoded in a thread pool ahead of the models (:func:`read_inputs`);
each bad file fails alone, as an :class:`~medscreen.errors.ImageReadError`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medscreen.config import Settings, default_settings
from medscreen.errors import ImageReadError
from medscreen.io.images import decode_image, read_image

__all__ = ["ImageInput", "ScreeningInput", "read_input", "read_inputs"]

#: what :func:`read_input` takes
ImageInput = str | Path | bytes | bytearray | np.ndarray


@dataclass(frozen=True)
class ScreeningInput:
    """A decoded image ready for :meth:`Screener.analyse`: uint8 ``H×W×3`` RGB, its name, the decode time."""

    image: np.ndarray
    source: str | None = None
    decode_ms: float = 0.0


def _as_rgb(array: np.ndarray, source: str | None) -> np.ndarray:
    name = source or "image array"
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8:
        raise ImageReadError(f"{name}: expected a uint8 array (values 0..255), got "
                             f"{getattr(array, 'dtype', type(array).__name__)}; convert it or pass the file")
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=-1)
    if array.ndim == 3 and array.shape[2] == 3:
        return array
    raise ImageReadError(f"{name}: expected an H×W (grey) or H×W×3 (RGB) array, got shape {array.shape}; "
                         "drop any alpha channel or pass the file")


def read_input(image: ImageInput | ScreeningInput, *, source: str | None = None,
               settings: Settings | None = None) -> ScreeningInput:
    """Decode a path, file bytes or an array into a :class:`ScreeningInput` (timed).

    Args:
        image: an image file path, the file's bytes (an upload), or a uint8 ``H×W[×3]`` array.
        source: the name shown in the result and in errors (default: the file name).
        settings: limits on image size (default: the built-in limits, :func:`~medscreen.config.default_settings`).

    Raises:
        ImageReadError: unreadable, corrupt or too large file; an array of the wrong type or shape.
    """
    if isinstance(image, ScreeningInput):
        return image
    settings = settings or default_settings()
    limits = {"max_pixels": settings.limits.max_image_pixels, "max_bytes": settings.limits.max_image_bytes}
    t = time.perf_counter()
    if isinstance(image, str | Path):
        source = source or Path(image).name
        rgb = read_image(image, mode="rgb", **limits)
    elif isinstance(image, bytes | bytearray | memoryview):
        rgb = decode_image(bytes(image), name=source or "<upload>", mode="rgb", **limits)
    else:
        rgb = _as_rgb(image, source)
    return ScreeningInput(rgb, source, (time.perf_counter() - t) * 1000)


def _read_item(item: ImageInput, source: str | None, settings: Settings | None) -> ScreeningInput:
    if isinstance(item, str | Path) and Path(item).is_dir():
        raise ImageReadError(f"{item}: a folder holding no image files (.png, .jpg, .tif, .bmp, .webp, .dcm)")
    if isinstance(item, str | Path) and not Path(item).exists():
        raise ImageReadError(f"{item}: no such file (nor any file matching it as a glob); check the path")
    return read_input(item, source=source, settings=settings)


def read_inputs(items: Sequence[tuple[str, ImageInput]], *, workers: int = 2,
                settings: Settings | None = None) -> Iterator[tuple[str, Future[ScreeningInput]]]:
    """Decode ``(name, image)`` items in a thread pool, in order, at most ``2 × workers`` ahead of the caller.

    Decoding (Pillow, zlib, libjpeg) releases the GIL, so it overlaps with the
    models running in the caller's thread; the bound keeps memory flat in a
    long batch. Each future raises the item's :class:`~medscreen.errors.ImageReadError`.
    """
    settings = settings or default_settings()
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="decode") as pool:
        todo = iter(items)
        pending: deque[tuple[str, Future[ScreeningInput]]] = deque()

        def submit() -> None:
            for name, item in todo:
                pending.append((name, pool.submit(_read_item, item, Path(name).name, settings)))
                return

        for _ in range(2 * max(1, workers)):
            submit()
        while pending:
            yield pending.popleft()
            submit()
