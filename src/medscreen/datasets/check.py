"""Check a dataset's files at the pixel level: readable headers, mask sizes, odd sizes, duplicates.

Readers (:mod:`medscreen.datasets.busi` ...) only list files; this module opens
each image and mask header (no pixel decoding, so ~2,500 files take seconds)
and hashes the image files to find exact duplicates. ``medscreen data check``
prints the resulting :class:`CheckReport`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medscreen.datasets.records import DatasetIndex, Problem, Record, Severity
from medscreen.errors import ImageReadError
from medscreen.io.images import DEFAULT_MAX_PIXELS, ImageInfo, file_sha256, read_image_info

__all__ = ["CheckReport", "check_index", "MIN_SIDE", "MAX_ASPECT"]

logger = logging.getLogger(__name__)

MIN_SIDE = 64
"""Images smaller than this on either side get a warning (thumbnail, icon, crop gone wrong)."""
MAX_ASPECT = 4.0
"""Images whose long side exceeds this many times the short side get a warning (strip, montage)."""


@dataclass
class CheckReport:
    """What :func:`check_index` found in one dataset.

    Attributes:
        name: dataset name (``busi``, ``manifest``...).
        root: the dataset's folder.
        n_images: number of records.
        label_counts: records per label (``"(none)"`` for unlabelled ones).
        n_with_mask: records that have at least one mask file.
        min_size, max_size: ``(width, height)`` of the smallest / largest
            readable image by area; None when no image could be read.
        problems: the index's own problems followed by those found here.
    """

    name: str
    root: str
    n_images: int
    label_counts: dict[str, int]
    n_with_mask: int
    min_size: tuple[int, int] | None
    max_size: tuple[int, int] | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """Problems of severity error."""
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        """Problems of severity warning."""
        return [p for p in self.problems if p.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        """True when no problem is an error (warnings do not count)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able data."""
        return {
            "name": self.name,
            "root": self.root,
            "ok": self.ok,
            "n_images": self.n_images,
            "label_counts": dict(self.label_counts),
            "n_with_mask": self.n_with_mask,
            "min_size": list(self.min_size) if self.min_size else None,
            "max_size": list(self.max_size) if self.max_size else None,
            "n_errors": len(self.errors),
            "n_warnings": len(self.warnings),
            "problems": [{"severity": p.severity.value, "path": p.path, "message": p.message} for p in self.problems],
        }


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to the dataset root when inside it (shorter messages)."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _info(path: Path, max_pixels: int, problems: list[Problem]) -> ImageInfo | None:
    """Header of ``path``, or None after recording why it cannot be read."""
    try:
        return read_image_info(path, max_pixels=max_pixels)
    except ImageReadError as exc:
        problems.append(Problem(Severity.ERROR, str(path), str(exc)))
        return None


def _size_warnings(record: Record, info: ImageInfo, problems: list[Problem]) -> None:
    """Warn about tiny or elongated images, and sizes that disagree with the dataset's table."""
    w, h = info.width, info.height
    messages = []
    if min(w, h) < MIN_SIDE:
        messages.append(f"image is {w}×{h}, smaller than {MIN_SIDE} px on a side; check it is not a thumbnail")
    if max(w, h) > MAX_ASPECT * min(w, h):
        messages.append(
            f"image is {w}×{h}, aspect ratio {max(w, h) / min(w, h):.1f} exceeds {MAX_ASPECT:g}; "
            "check it is not a strip or a montage"
        )
    csv_w, csv_h = record.fields.get("width_csv"), record.fields.get("height_csv")
    if isinstance(csv_w, int) and isinstance(csv_h, int) and (csv_w, csv_h) != (w, h):
        messages.append(f"the dataset's table gives {csv_w}×{csv_h} but the file is {w}×{h}; the file's size is used")
    problems.extend(Problem(Severity.WARNING, str(record.image), m) for m in messages)


def _check_masks(record: Record, info: ImageInfo | None, max_pixels: int, problems: list[Problem]) -> None:
    """Error for each mask that cannot be read or whose size differs from the image's."""
    for mask in record.masks:
        mask_info = _info(mask, max_pixels, problems)
        if info is None or mask_info is None:
            continue
        if (mask_info.width, mask_info.height) != (info.width, info.height):
            message = (
                f"mask {mask_info.width}×{mask_info.height} differs from image {info.width}×{info.height} "
                f"({record.image.name}); re-export the mask at the image's size"
            )
            problems.append(Problem(Severity.ERROR, str(mask), message))


def _duplicate_problems(by_hash: dict[str, list[Record]], root: Path) -> list[Problem]:
    """One warning per group of records whose image files have identical bytes."""
    problems = []
    for digest, records in by_hash.items():
        if len(records) < 2:
            continue
        paths = list(dict.fromkeys(r.image for r in records))
        if len(paths) == 1:
            message = f"the same file is listed {len(records)} times in the index"
        else:
            others = ", ".join(_relative(p, root) for p in paths[1:])
            message = f"identical content (sha256 {digest[:12]}…) to {others}"
        labels = sorted({r.label or "(none)" for r in records})
        if len(labels) > 1:
            message += f"; the copies have different labels ({', '.join(labels)}): fix the labels or drop one"
        else:
            message += "; keep one copy so it cannot land in both training and validation"
        problems.append(Problem(Severity.WARNING, str(paths[0]), message))
    return problems


def check_index(
    index: DatasetIndex,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    hash_duplicates: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> CheckReport:
    """Open every image and mask header of ``index`` and report what is wrong.

    Errors: an image or mask that cannot be read (missing, corrupt, not an
    image, over ``max_pixels``), a mask whose size differs from its image's.
    Warnings: an image under 64 px on a side or with aspect ratio over 4, a
    size that disagrees with the dataset's table (``width_csv``/``height_csv``
    fields), and image files with identical bytes (SHA-256). Pixels are not
    decoded, so truncated pixel data is found only when training reads it.

    Args:
        index: what a dataset reader returned.
        max_pixels: images or masks with more pixels are errors.
        hash_duplicates: hash image files to find exact duplicates.
        on_progress: called as ``on_progress(done, total)`` after each record.

    Returns:
        The :class:`CheckReport`; ``report.ok`` is False when any error was found.
    """
    problems: list[Problem] = list(index.problems)
    sizes: list[tuple[int, int]] = []
    by_hash: dict[str, list[Record]] = {}
    total = len(index.records)
    for done, record in enumerate(index.records, start=1):
        info = _info(record.image, max_pixels, problems)
        if info is not None:
            sizes.append((info.width, info.height))
            _size_warnings(record, info, problems)
            if hash_duplicates:
                try:
                    by_hash.setdefault(file_sha256(record.image), []).append(record)
                except ImageReadError as exc:
                    problems.append(Problem(Severity.ERROR, str(record.image), str(exc)))
        _check_masks(record, info, max_pixels, problems)
        if on_progress is not None:
            on_progress(done, total)
    problems.extend(_duplicate_problems(by_hash, index.root))
    report = CheckReport(
        name=index.name,
        root=str(index.root),
        n_images=total,
        label_counts=index.label_counts(),
        n_with_mask=sum(1 for r in index.records if r.masks),
        min_size=min(sizes, key=lambda s: s[0] * s[1]) if sizes else None,
        max_size=max(sizes, key=lambda s: s[0] * s[1]) if sizes else None,
        problems=problems,
    )
    logger.info(
        "checked %s: %d images, %d errors, %d warnings", index.name, total, len(report.errors), len(report.warnings)
    )
    return report
