"""HYGD (Hillel Yaffe Glaucoma Dataset): full fundus photos labelled glaucomatous / normal.

Abramovich O. et al., "Hillel Yaffe Glaucoma Dataset (HYGD): a gold-standard
annotated fundus dataset for glaucoma detection", PhysioNet (2025),
doi:10.13026/z0ak-km33; see also the GONet paper. Licence: Open Data Commons
Attribution (ODC-By 1.0) — cite it wherever the data or a model trained on it
is used.

Published layout (747 photos of 288 patients, Topcon DRI OCT Triton, 45°)::

    Labels.csv            Image Name, Patient, Label (GON+ | GON-), Quality Score, (empty)
    Images/<patient>_<n>.jpg

``GON+`` (glaucomatous optic neuropathy, confirmed by a full ophthalmic
examination) maps to ``glaucoma``, ``GON-`` to ``normal``. Patients have 1–14
photos each: split by ``patient_id``. A few files named ``.jpg`` are PNG inside
in the full download; :func:`medscreen.io.read_image` sniffs the content, so
nothing here depends on the extension.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import replace
from pathlib import Path

from medscreen.datasets._layout import find_child, layout_error, natural_key, resolve_root
from medscreen.datasets.records import DatasetIndex, Record
from medscreen.io.images import file_sha256

__all__ = ["HYGD_LABELS", "looks_like_hygd", "read_hygd"]

logger = logging.getLogger(__name__)

HYGD_LABELS: dict[str, str] = {"GON+": "glaucoma", "GON-": "normal"}
_EXPECTED = "'Labels.csv' (Image Name, Patient, Label, Quality Score) beside 'Images/<patient>_<n>.jpg'"
_COLUMNS = ("Image Name", "Patient", "Label")


def _is_root(folder: Path) -> bool:
    return find_child(folder, "Labels.csv", is_dir=False) is not None and find_child(folder, "Images") is not None


def looks_like_hygd(root: Path) -> bool:
    """Whether ``root`` (or its one inner folder as unzipped) holds HYGD's ``Labels.csv`` and ``Images/``."""
    root = Path(root)
    return resolve_root(root, _is_root, inner=_inner_names(root)) is not None


def _inner_names(root: Path) -> tuple[str, ...]:
    """PhysioNet archives unzip into one versioned folder (``hygd-1.0.0``...): look one level down."""
    try:
        return tuple(sorted(p.name for p in Path(root).iterdir() if p.is_dir() and p.name.lower() != "images"))
    except OSError:
        return ()


def read_hygd(root: Path) -> DatasetIndex:
    """Index HYGD: one :class:`Record` per row of ``Labels.csv`` whose image exists.

    Args:
        root: the folder holding ``Labels.csv`` and ``Images/`` (or its parent).

    Returns:
        A :class:`DatasetIndex` named ``hygd``; ``label`` is ``glaucoma`` or
        ``normal``; ``patient_id`` is ``Patient``; ``key`` the image stem;
        ``fields["quality"]`` the published quality score (float, None when blank).
        Rows with an unknown label or a missing image, and images without a row,
        are recorded as problems.

    Raises:
        DatasetLayoutError: no ``Labels.csv`` beside an ``Images`` folder, or the
        CSV lacks the published columns.
    """
    root = Path(root)
    folder = resolve_root(root, _is_root, inner=_inner_names(root))
    if folder is None:
        raise layout_error("HYGD", root, _EXPECTED)
    labels_csv = find_child(folder, "Labels.csv", is_dir=False)
    images_dir = find_child(folder, "Images")
    assert labels_csv is not None and images_dir is not None  # guaranteed by _is_root
    index = DatasetIndex(name="hygd", root=root)
    with open(labels_csv, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = {(c or "").strip(): c for c in (reader.fieldnames or [])}
        missing = [c for c in _COLUMNS if c not in columns]
        if missing:
            raise layout_error(
                "HYGD", folder, _EXPECTED,
                f"{labels_csv.name} lacks the column(s) {', '.join(missing)}; use the published Labels.csv.",
            )
        files = {p.name.casefold(): p for p in images_dir.iterdir() if p.is_file()}
        listed: set[str] = set()
        for line, row in enumerate(reader, start=2):
            name = (row[columns["Image Name"]] or "").strip()
            label_raw = (row[columns["Label"]] or "").strip().upper()
            patient = (row[columns["Patient"]] or "").strip()
            where = f"{labels_csv}:{line}"
            if not name:
                continue
            listed.add(name.casefold())
            path = files.get(name.casefold())
            if path is None:
                index.error(where, f"image {name!r} is listed but not in {images_dir}; restore it or drop the row")
                continue
            if label_raw not in HYGD_LABELS:
                index.error(where, f"label {label_raw!r} for {name} is not GON+ or GON-")
                continue
            if not patient:
                index.error(where, f"{name} has no Patient id; patient-level splits need it")
                continue
            quality = _float_or_none(row.get(columns.get("Quality Score", ""), ""))
            index.records.append(
                Record(image=path, label=HYGD_LABELS[label_raw], patient_id=f"hygd:{patient}", dataset="hygd",
                       key=path.stem, fields={"quality": quality})
            )
        for key, path in sorted(files.items()):
            if key not in listed and path.suffix.lower() in {".jpg", ".jpeg", ".png"}:
                index.warn(path, "image has no row in Labels.csv; it is not used")
    index.records = _merge_duplicates(index)
    index.records.sort(key=lambda r: natural_key(r.key))
    logger.info("HYGD %s: %d images of %d patients %s", folder, len(index.records),
                len({r.patient_id for r in index.records}), index.label_counts())
    return index


def _merge_duplicates(index: DatasetIndex) -> list[Record]:
    """Keep one copy of byte-identical photos and put patients who share one in one split group.

    The published set has 10 pairs of identical files, 5 of them under two
    different patient ids (65/110, 81/110, 81/180, 187/197, 239/257): split by
    the published ids, one photo would sit in training and validation at once.
    Such patients get one ``patient_id`` (``hygd:81+110+180``); the published id
    stays in ``fields["patient"]``. Reading bytes (not pixels) keeps this cheap.
    """
    first: dict[str, Record] = {}
    parent: dict[str, str] = {}  # union-find over patient ids linked by a shared photo

    def find(p: str) -> str:
        while parent.setdefault(p, p) != p:
            p = parent[p]
        return p

    kept: list[Record] = []
    for rec in index.records:
        digest = file_sha256(rec.image)
        other = first.setdefault(digest, rec)
        if other is rec:
            kept.append(rec)
            continue
        parent[find(rec.patient_id or "")] = find(other.patient_id or "")
        if other.label != rec.label:
            index.warn(rec.image, f"identical to {other.image.name} but labelled {rec.label}, not {other.label}")
    members: dict[str, set[str]] = {}
    for pid in parent:
        members.setdefault(find(pid), set()).add(pid)
    merged = {pid: "hygd:" + "+".join(sorted((m.removeprefix("hygd:") for m in group), key=natural_key))
              for group in members.values() if len(group) > 1 for pid in group}
    return [replace(r, patient_id=merged.get(r.patient_id or "", r.patient_id),
                    fields={**r.fields, "patient": (r.patient_id or "").removeprefix("hygd:")}) for r in kept]


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None
