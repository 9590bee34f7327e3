"""BUSI: breast ultrasound images with lesion masks, classes normal / benign / malignant.

Al-Dhabyani W. et al., "Dataset of breast ultrasound images", Data in Brief
28 (2020) 104863, doi:10.1016/j.dib.2019.104863.

Published layout (780 images; any subset works the same way)::

    Dataset_BUSI_with_GT/
      benign/     benign (1).png  benign (1)_mask.png  [benign (1)_mask_1.png ...]
      malignant/  malignant (1).png  malignant (1)_mask.png
      normal/     normal (1).png  normal (1)_mask.png     (empty masks)

Some images have several lesion masks (``_mask_1``, ``_mask_2``): the mask is
their union, so :attr:`Record.masks` lists them all. BUSI publishes no patient
ids and has near-duplicate views of one patient, so random splits over-state
scores.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from medscreen.datasets._layout import find_child, layout_error, list_files, natural_key, resolve_root
from medscreen.datasets.records import DatasetIndex, Record

__all__ = ["BUSI_CLASSES", "looks_like_busi", "read_busi"]

logger = logging.getLogger(__name__)

BUSI_CLASSES: tuple[str, ...] = ("normal", "benign", "malignant")
_INNER = "Dataset_BUSI_with_GT"
_NAME = re.compile(
    r"^(?P<stem>(?P<cls>[a-z]+) \((?P<num>\d+)\))(?:_mask(?:_(?P<extra>\d+))?)?\.png$", re.IGNORECASE
)
_EXPECTED = (
    f"class folders {', '.join(repr(c) for c in BUSI_CLASSES)} holding '<class> (<n>).png' and "
    f"'<class> (<n>)_mask.png' (either directly or inside '{_INNER}')"
)


def _class_dirs(folder: Path) -> dict[str, Path]:
    dirs = {}
    for cls in BUSI_CLASSES:
        child = find_child(folder, cls)
        if child is not None:
            dirs[cls] = child
    return dirs


def _has_busi_files(folder: Path) -> bool:
    dirs = _class_dirs(folder)
    for cls, path in dirs.items():
        for entry in path.iterdir():
            match = _NAME.match(entry.name)
            if match and match["cls"].casefold() == cls:
                return True
    return False


def _find_root(root: Path) -> Path | None:
    return resolve_root(root, _has_busi_files, inner=(_INNER,))


def looks_like_busi(root: Path) -> bool:
    """Whether ``root`` (or its ``Dataset_BUSI_with_GT``) has BUSI class folders with BUSI file names."""
    return _find_root(Path(root)) is not None


def read_busi(root: Path) -> DatasetIndex:
    """Index a BUSI folder: one :class:`Record` per image, with all its masks.

    Args:
        root: ``Dataset_BUSI_with_GT`` or the folder that contains it.

    Returns:
        A :class:`DatasetIndex` named ``busi``; labels ``normal``/``benign``/
        ``malignant`` from the class folder; ``patient_id`` is ``None`` (BUSI
        has no ids); ``key`` is the file stem, e.g. ``benign (12)``. Images
        without their ``_mask.png`` are left out and reported as errors; masks
        without an image and unexpected files are warnings.

    Raises:
        DatasetLayoutError: ``root`` has no BUSI class folders.
    """
    root = Path(root)
    folder = _find_root(root)
    if folder is None:
        raise layout_error("BUSI", root, _EXPECTED)
    index = DatasetIndex(name="busi", root=root)
    dirs = _class_dirs(folder)
    for cls in BUSI_CLASSES:
        if cls not in dirs:
            index.warn(folder / cls, f"class folder {cls!r} not found: no {cls} images in this copy")
    for cls, class_dir in dirs.items():
        _read_class(index, cls, class_dir)
    index.records.sort(key=lambda r: (BUSI_CLASSES.index(r.label or "normal"), natural_key(r.key)))
    logger.info("BUSI %s: %d images %s", folder, len(index.records), index.label_counts())
    return index


def _read_class(index: DatasetIndex, cls: str, class_dir: Path) -> None:
    images: dict[str, Path] = {}
    masks: dict[str, list[tuple[int, Path]]] = {}
    for path in list_files(class_dir):
        match = _NAME.match(path.name)
        if match is None:
            index.warn(path, f"unexpected file name; BUSI names are '{cls} (<n>).png' and '{cls} (<n>)_mask.png'")
            continue
        stem = match["stem"]
        if match["cls"].casefold() != cls:
            index.warn(path, f"file of class {match['cls']!r} in the {cls!r} folder; labelled {cls!r} (its folder)")
        if path.name.casefold() == f"{stem}.png".casefold():
            images[stem] = path
        else:
            order = -1 if match["extra"] is None else int(match["extra"])
            masks.setdefault(stem, []).append((order, path))
    for stem, image in images.items():
        found = sorted(masks.pop(stem, []))
        if not found or found[0][0] != -1:
            index.error(image, f"image without its mask '{stem}_mask.png'; left out")
            continue
        index.records.append(
            Record(
                image=image,
                masks=tuple(p for _, p in found),
                label=cls,
                patient_id=None,
                dataset="busi",
                key=stem,
            )
        )
    for stem, orphans in masks.items():
        for _, path in orphans:
            index.warn(path, f"mask without its image '{stem}.png'; ignored")
