"""ACRIMA: optic-disc-centred fundus crops labelled glaucoma / normal.

Diaz-Pinto A. et al., "CNNs for automatic glaucoma assessment using fundus
images: an extensive validation", BioMedical Engineering OnLine 18 (2019) 29,
doi:10.1186/s12938-019-0649-y.

Published layout (705 images: 396 glaucoma, 309 normal)::

    Database/
      Images/Im001_ACRIMA.jpg  Im686_g_ACRIMA.jpg ...   ("_g_" = glaucoma; a few end in .JPG)
      Readme.txt

No patient ids are published although several images come from one patient,
so random splits over-state scores. There are no masks.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from medscreen.datasets._layout import find_child, layout_error, list_files, natural_key, resolve_root
from medscreen.datasets.records import DatasetIndex, Record

__all__ = ["ACRIMA_LABELS", "looks_like_acrima", "read_acrima"]

logger = logging.getLogger(__name__)

ACRIMA_LABELS: tuple[str, ...] = ("normal", "glaucoma")
_NAME = re.compile(r"^(?P<stem>Im(?P<num>\d+)_(?P<g>g_)?ACRIMA)\.jpe?g$", re.IGNORECASE)
_EXPECTED = "'Database/Images/ImNNN_ACRIMA.jpg' and 'ImNNN_g_ACRIMA.jpg' (give 'Database', its parent or 'Images')"


def _is_images_dir(folder: Path) -> bool:
    try:
        return any(_NAME.match(p.name) for p in folder.iterdir())
    except OSError:
        return False


def _find_images(root: Path) -> Path | None:
    database = resolve_root(root, lambda f: find_child(f, "Images") is not None, inner=("Database",))
    if database is not None:
        images = find_child(database, "Images")
        if images is not None and _is_images_dir(images):
            return images
    return root if root.is_dir() and _is_images_dir(root) else None


def looks_like_acrima(root: Path) -> bool:
    """Whether ``root`` holds ACRIMA-named images (directly, in ``Images/`` or in ``Database/Images/``)."""
    return _find_images(Path(root)) is not None


def read_acrima(root: Path) -> DatasetIndex:
    """Index ACRIMA: one :class:`Record` per image, labelled from its name.

    Args:
        root: the ``Database`` folder, its parent, or the ``Images`` folder.

    Returns:
        A :class:`DatasetIndex` named ``acrima``; ``label`` is ``glaucoma``
        for ``ImNNN_g_ACRIMA`` names and ``normal`` otherwise; ``key`` is the
        stem; no masks, ``patient_id`` ``None``. Other file names are warnings.

    Raises:
        DatasetLayoutError: no ACRIMA-named images were found.
    """
    root = Path(root)
    images_dir = _find_images(root)
    if images_dir is None:
        raise layout_error("ACRIMA", root, _EXPECTED)
    index = DatasetIndex(name="acrima", root=root)
    numbers: dict[int, Path] = {}
    for path in list_files(images_dir):
        match = _NAME.match(path.name)
        if match is None:
            index.warn(path, "unexpected file name; ACRIMA images are named 'ImNNN_ACRIMA.jpg' or 'ImNNN_g_ACRIMA.jpg'")
            continue
        number = int(match["num"])
        if number in numbers:
            index.warn(path, f"image number {number} is also used by {numbers[number].name}")
        numbers[number] = path
        label = "glaucoma" if match["g"] else "normal"
        index.records.append(Record(image=path, label=label, dataset="acrima", key=match["stem"]))
    index.records.sort(key=lambda r: natural_key(r.key))
    logger.info("ACRIMA %s: %d images %s", images_dir, len(index.records), index.label_counts())
    return index
