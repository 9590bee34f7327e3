"""Readers for public dataset layouts, the records they yield, and the dataset registry.

Names are imported on first use (module ``__getattr__``): the readers pull in
pandas and openpyxl, which code that only needs :class:`Record` should not pay for.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medscreen.datasets.acrima import looks_like_acrima, read_acrima
    from medscreen.datasets.busbra import looks_like_busbra, read_busbra
    from medscreen.datasets.busi import looks_like_busi, read_busi
    from medscreen.datasets.grape import looks_like_grape, read_grape, read_grape_eyes
    from medscreen.datasets.hygd import looks_like_hygd, read_hygd
    from medscreen.datasets.idrid import looks_like_idrid, read_idrid
    from medscreen.datasets.records import DatasetIndex, Problem, Record, Severity
    from medscreen.datasets.registry import READERS, DatasetReader, detect_dataset, find_datasets, read_dataset

#: public name → the module that defines it
_SOURCES: dict[str, str] = {
    **dict.fromkeys(["Record", "Problem", "Severity", "DatasetIndex"], "records"),
    **dict.fromkeys(["looks_like_busi", "read_busi"], "busi"),
    **dict.fromkeys(["looks_like_busbra", "read_busbra"], "busbra"),
    **dict.fromkeys(["looks_like_idrid", "read_idrid"], "idrid"),
    **dict.fromkeys(["looks_like_acrima", "read_acrima"], "acrima"),
    **dict.fromkeys(["looks_like_grape", "read_grape", "read_grape_eyes"], "grape"),
    **dict.fromkeys(["looks_like_hygd", "read_hygd"], "hygd"),
    **dict.fromkeys(["READERS", "DatasetReader", "detect_dataset", "read_dataset", "find_datasets"], "registry"),
}

__all__ = [
    "Record",
    "Problem",
    "Severity",
    "DatasetIndex",
    "looks_like_busi",
    "read_busi",
    "looks_like_busbra",
    "read_busbra",
    "looks_like_idrid",
    "read_idrid",
    "looks_like_acrima",
    "read_acrima",
    "looks_like_grape",
    "read_grape",
    "read_grape_eyes",
    "looks_like_hygd",
    "read_hygd",
    "READERS",
    "DatasetReader",
    "detect_dataset",
    "read_dataset",
    "find_datasets",
]


def __getattr__(name: str) -> Any:
    if name in _SOURCES:
        return getattr(import_module(f"medscreen.datasets.{_SOURCES[name]}"), name)
    raise AttributeError(f"module 'medscreen.datasets' has no attribute {name!r}")
