"""Readers for public dataset layouts, the records they yield, and the dataset registry."""

from __future__ import annotations

from medscreen.datasets.acrima import looks_like_acrima, read_acrima
from medscreen.datasets.busbra import looks_like_busbra, read_busbra
from medscreen.datasets.busi import looks_like_busi, read_busi
from medscreen.datasets.grape import looks_like_grape, read_grape, read_grape_eyes
from medscreen.datasets.hygd import looks_like_hygd, read_hygd
from medscreen.datasets.idrid import looks_like_idrid, read_idrid
from medscreen.datasets.records import DatasetIndex, Problem, Record, Severity
from medscreen.datasets.registry import READERS, DatasetReader, detect_dataset, find_datasets, read_dataset

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
