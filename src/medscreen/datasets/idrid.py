"""IDRiD part A: fundus photographs with optic-disc segmentation masks.

Porwal P. et al., "Indian Diabetic Retinopathy Image Dataset (IDRiD): a database
for diabetic retinopathy screening research", Data 3 (2018) 25,
doi:10.3390/data3030025.

Published layout (54 training + 27 testing images)::

    A. Segmentation/
      1. Original Images/
        a. Training Set/IDRiD_01.jpg ...
        b. Testing Set/IDRiD_55.jpg ...
      2. All Segmentation Groundtruths/
        a. Training Set/5. Optic Disc/IDRiD_01_OD.tif ...
        b. Testing Set/5. Optic Disc/IDRiD_55_OD.tif ...

Only the optic-disc masks are indexed (the lesion masks exist for some images
only). A copy without ``b. Testing Set`` (as in the project's data folder) is
read as it is.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from medscreen.datasets._layout import find_child, layout_error, list_files, natural_key, resolve_root
from medscreen.datasets.records import DatasetIndex, Record

__all__ = ["IDRID_SUBSETS", "looks_like_idrid", "read_idrid"]

logger = logging.getLogger(__name__)

_SEGMENTATION = "A. Segmentation"
_IMAGES = "1. Original Images"
_GROUNDTRUTHS = "2. All Segmentation Groundtruths"
_OPTIC_DISC = "5. Optic Disc"
#: Subset folder → value of ``fields["subset"]``.
IDRID_SUBSETS: dict[str, str] = {"a. Training Set": "train", "b. Testing Set": "test"}
_IMAGE = re.compile(r"^(?P<stem>IDRiD_\d+)\.jpe?g$", re.IGNORECASE)
_MASK = re.compile(r"^(?P<stem>IDRiD_\d+)_OD\.tiff?$", re.IGNORECASE)
_EXPECTED = (
    f"'{_SEGMENTATION}/{_IMAGES}/a. Training Set/IDRiD_XX.jpg' with "
    f"'{_SEGMENTATION}/{_GROUNDTRUTHS}/a. Training Set/{_OPTIC_DISC}/IDRiD_XX_OD.tif' "
    f"(and the same under 'b. Testing Set'); give the folder '{_SEGMENTATION}' or the one containing it"
)


def _is_idrid(folder: Path) -> bool:
    return find_child(folder, _IMAGES) is not None


def _find_root(root: Path) -> Path | None:
    return resolve_root(root, _is_idrid, inner=(_SEGMENTATION,))


def looks_like_idrid(root: Path) -> bool:
    """Whether ``root`` is ``A. Segmentation`` (or contains it), judged by ``1. Original Images``."""
    return _find_root(Path(root)) is not None


def read_idrid(root: Path) -> DatasetIndex:
    """Index IDRiD part A: one :class:`Record` per photograph, with its optic-disc mask.

    IDRiD does not publish patient ids, so ``patient_id`` is ``None`` and each
    image is its own group in splits.

    Args:
        root: the ``A. Segmentation`` folder or the folder that contains it.

    Returns:
        A :class:`DatasetIndex` named ``idrid``; ``label`` is ``None``; ``key``
        is the stem (``IDRiD_01``); ``fields["subset"]`` is ``train`` or
        ``test`` (the authors' split). Images without their ``_OD.tif`` mask are
        left out and reported as errors (a full download has one per image).

    Raises:
        DatasetLayoutError: ``root`` has no ``1. Original Images`` folder.
    """
    root = Path(root)
    folder = _find_root(root)
    if folder is None:
        raise layout_error("IDRiD part A", root, _EXPECTED)
    index = DatasetIndex(name="idrid", root=root)
    images_dir = find_child(folder, _IMAGES) or folder / _IMAGES
    truths_dir = find_child(folder, _GROUNDTRUTHS)
    found_any = False
    for subset_name, subset in IDRID_SUBSETS.items():
        subset_dir = find_child(images_dir, subset_name)
        if subset_dir is None:
            logger.info("IDRiD %s: no %r folder; its images are not in this copy", folder, subset_name)
            continue
        found_any = True
        disc_dir = truths_dir and find_child(truths_dir, subset_name)
        disc_dir = disc_dir and find_child(disc_dir, _OPTIC_DISC)
        expected = folder / _GROUNDTRUTHS / subset_name / _OPTIC_DISC
        if not disc_dir:
            index.error(expected, f"optic-disc mask folder not found; the {subset} images cannot be used")
        _read_subset(index, subset, subset_dir, disc_dir or None, expected)
    if not found_any:
        raise layout_error(
            "IDRiD part A", images_dir, f"the subfolders {', '.join(repr(s) for s in IDRID_SUBSETS)}"
        )
    index.records.sort(key=lambda r: natural_key(r.key))
    logger.info("IDRiD %s: %d images", folder, len(index.records))
    return index


def _read_subset(index: DatasetIndex, subset: str, image_dir: Path, disc_dir: Path | None, expected: Path) -> None:
    masks: dict[str, Path] = {}
    if disc_dir is not None:
        for path in list_files(disc_dir):
            match = _MASK.match(path.name)
            if match is None:
                index.warn(path, "unexpected file name; optic-disc masks are named 'IDRiD_XX_OD.tif'")
            else:
                masks[match["stem"].casefold()] = path
    keys = {r.key.casefold() for r in index.records}
    for path in list_files(image_dir):
        match = _IMAGE.match(path.name)
        if match is None:
            index.warn(path, "unexpected file name; IDRiD images are named 'IDRiD_XX.jpg'")
            continue
        stem = match["stem"]
        mask = masks.pop(stem.casefold(), None)
        if stem.casefold() in keys:
            index.error(path, f"{stem} appears in both the training and testing sets; left out")
        elif mask is None:
            if disc_dir is not None:
                index.error(path, f"image without its optic-disc mask {expected / (stem + '_OD.tif')}; left out")
        else:
            record = Record(image=path, masks=(mask,), dataset="idrid", key=stem, fields={"subset": subset})
            index.records.append(record)
    for path in masks.values():
        index.warn(path, "optic-disc mask without its image; ignored")
