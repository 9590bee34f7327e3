"""Typed records that every dataset reader yields.

A :class:`Record` is one image with its masks, label, patient and the
dataset's own fields. A :class:`DatasetIndex` is what a reader returns: the
records plus the problems found while indexing (an image without its mask, an
unknown label...). Readers never open pixels; :mod:`medscreen.datasets.check`
does that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

__all__ = ["Record", "Problem", "Severity", "DatasetIndex", "task_label"]


@dataclass(frozen=True)
class Record:
    """One image of a dataset.

    Attributes:
        image: path of the image file.
        masks: mask files; more than one means their union is the mask
            (BUSI's ``_mask_1``/``_mask_2``). Empty when the dataset has none.
        label: class name in the task's vocabulary (``normal``/``benign``/
            ``malignant``, ``glaucoma``/``normal``, ``progressing``/``stable``),
            or ``None`` when not given.
        patient_id: the patient (or subject) id where the dataset has one.
        dataset: short name of the source dataset (``busi``, ``idrid``...).
        key: identifier unique within the dataset (file stem or the dataset's ID).
        fields: the dataset's own fields (GRAPE's IOP, BUS-BRA's BI-RADS...).
    """

    image: Path
    masks: tuple[Path, ...] = ()
    label: str | None = None
    patient_id: str | None = None
    dataset: str = "manifest"
    key: str = ""
    fields: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def group(self) -> str:
        """Grouping key for splits: the patient id, or the image itself when there is none."""
        return self.patient_id if self.patient_id is not None else f"{self.dataset}:{self.key or self.image}"


class Severity(str, Enum):
    """How bad a problem is: errors make ``data check`` fail, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """Something wrong with a dataset, tied to the file (or field) it concerns."""

    severity: Severity
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity.value}: {self.path}: {self.message}"


@dataclass
class DatasetIndex:
    """The records of one dataset folder (or manifest) and the problems found."""

    name: str
    root: Path
    records: list[Record] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def error(self, path: Path | str, message: str) -> None:
        """Record an error about ``path``."""
        self.problems.append(Problem(Severity.ERROR, str(path), message))

    def warn(self, path: Path | str, message: str) -> None:
        """Record a warning about ``path``."""
        self.problems.append(Problem(Severity.WARNING, str(path), message))

    @property
    def errors(self) -> list[Problem]:
        """Problems of severity error."""
        return [p for p in self.problems if p.severity is Severity.ERROR]

    def label_counts(self) -> dict[str, int]:
        """Number of records per label (``"(none)"`` for records without one)."""
        counts: dict[str, int] = {}
        for r in self.records:
            counts[r.label or "(none)"] = counts.get(r.label or "(none)", 0) + 1
        return dict(sorted(counts.items()))


def task_label(record: Record, task: str) -> str | None:
    """The record's label for ``task`` (GRAPE's eyes are all glaucomatous, so ``glaucoma`` for that task)."""
    if task == "glaucoma" and record.dataset == "grape":
        return "glaucoma"
    return record.label
