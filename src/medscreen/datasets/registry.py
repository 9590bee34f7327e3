"""Which public dataset a folder holds, and reading it with the right reader.

:data:`READERS` is plain data — name → :class:`DatasetReader` — in the order
layouts are tried; add a dataset by adding a module and one entry here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import NamedTuple

from medscreen.datasets._layout import layout_error
from medscreen.datasets.records import DatasetIndex
from medscreen.errors import ConfigError, DatasetLayoutError, did_you_mean

__all__ = ["DatasetReader", "READERS", "detect_dataset", "read_dataset", "find_datasets", "dataset_names"]

logger = logging.getLogger(__name__)


class DatasetReader(NamedTuple):
    """How to recognise and read one public dataset's published layout.

    The reader's module is imported on first use of :attr:`detect` or
    :attr:`read` (GRAPE's pulls in pandas), so importing the registry is cheap.
    """

    module: str
    detect_name: str
    read_name: str
    description: str

    @property
    def detect(self) -> Callable[[Path], bool]:
        """``looks_like_<dataset>(path) -> bool``."""
        return getattr(import_module(self.module), self.detect_name)

    @property
    def read(self) -> Callable[[Path], DatasetIndex]:
        """``read_<dataset>(path) -> DatasetIndex``."""
        return getattr(import_module(self.module), self.read_name)


def _reader(dataset: str, description: str) -> DatasetReader:
    module = dataset.replace("-", "")
    return DatasetReader(f"medscreen.datasets.{module}", f"looks_like_{module}", f"read_{module}", description)


READERS: dict[str, DatasetReader] = {
    "busi": _reader(
        "busi",
        "BUSI: 'Dataset_BUSI_with_GT/{benign,malignant,normal}/<class> (<n>).png' with '<class> (<n>)_mask.png'",
    ),
    "bus-bra": _reader(
        "bus-bra",
        "BUS-BRA: 'bus_data.csv' beside 'Images/bus_XXXX-s.png' and 'Masks/mask_XXXX-s.png'",
    ),
    "idrid": _reader(
        "idrid",
        "IDRiD part A: 'A. Segmentation/1. Original Images/a. Training Set/IDRiD_XX.jpg' with "
        "'A. Segmentation/2. All Segmentation Groundtruths/a. Training Set/5. Optic Disc/IDRiD_XX_OD.tif'",
    ),
    "acrima": _reader("acrima", "ACRIMA: 'Database/Images/ImNNN_ACRIMA.jpg' and 'ImNNN_g_ACRIMA.jpg'"),
    "grape": _reader("grape", "GRAPE: 'VF and clinical information.xlsx' beside 'ROI images/' and 'CFPs/'"),
    "hygd": _reader(
        "hygd",
        "HYGD: 'Labels.csv' (Image Name, Patient, Label GON+/GON-) beside 'Images/<patient>_<n>.jpg'",
    ),
}


def dataset_names() -> list[str]:
    """Names accepted by :func:`read_dataset`, in detection order."""
    return list(READERS)


def _canonical(name: str) -> str:
    """Registry key for ``name``; ``BUSBRA``, ``bus_bra`` and ``BUS-BRA`` all give ``bus-bra``.

    Raises:
        ConfigError: ``name`` is not a known dataset; the message suggests the closest name.
    """
    squashed = {k.replace("-", ""): k for k in READERS}
    key = squashed.get(name.strip().casefold().replace("-", "").replace("_", ""))
    if key is not None:
        return key
    raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(READERS)}."
                      + did_you_mean(name.casefold(), READERS, cutoff=0.5, sentence=True))


def detect_dataset(path: Path) -> str | None:
    """Name of the first dataset whose layout ``path`` has (as given, or its published inner folder)."""
    path = Path(path)
    if not path.is_dir():
        return None
    for name, reader in READERS.items():
        if reader.detect(path):
            return name
    return None


def _expected_layouts() -> str:
    return "; ".join(reader.description for reader in READERS.values())


def read_dataset(path: Path, name: str | None = None) -> DatasetIndex:
    """Read the dataset in ``path`` with the reader called ``name``, or the one whose layout it has.

    Raises:
        ConfigError: ``name`` is not one of :data:`READERS`.
        DatasetLayoutError: ``path`` is not that dataset's layout (or no known layout when ``name`` is None).
    """
    path = Path(path)
    if name is not None:
        return READERS[_canonical(name)].read(path)
    detected = detect_dataset(path)
    if detected is None:
        raise _nothing_found(path)
    return READERS[detected].read(path)


def find_datasets(path: Path) -> list[DatasetIndex]:
    """Read every public dataset in ``path``: one dataset's folder, or a folder of dataset folders.

    When ``path`` holds two or more recognised dataset folders it is read as a
    folder of datasets (like the project's ``shared/data``); otherwise, if it
    is itself a dataset it is read as one.

    Raises:
        DatasetLayoutError: neither ``path`` nor any folder in it has a known layout.
    """
    path = Path(path)
    if not path.is_dir():
        raise _nothing_found(path)
    children = []
    for child in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        name = detect_dataset(child)
        if name is not None:
            children.append((name, child))
    itself = detect_dataset(path)
    if itself is not None and len(children) < 2:
        children = [(itself, path)]
    if not children:
        raise _nothing_found(path)
    indexes = []
    for name, folder in children:
        logger.info("reading %s as %s", folder, name)
        indexes.append(READERS[name].read(folder))
    return indexes


def _nothing_found(path: Path) -> DatasetLayoutError:
    return layout_error(
        "known public dataset",
        path,
        f"one of these layouts (in it or in one of its folders): {_expected_layouts()}",
        "Unzip the dataset keeping its published names, or describe your own images with a CSV manifest "
        "(--manifest).",
    )
