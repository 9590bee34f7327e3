"""GRAPE: longitudinal glaucoma follow-up — fundus photos per visit, visual fields, progression.

Huang X. et al., "GRAPE: A multi-modal dataset of longitudinal follow-up visual
field and fundus images for glaucoma management", Scientific Data 10 (2023) 520,
doi:10.1038/s41597-023-02424-4.

Published layout::

    VF and clinical information.xlsx   sheets 'Baseline' (one row per eye) and 'Follow-up' (one per visit)
    CFPs/<subject>_<eye>_<visit>.jpg        colour fundus photographs
    ROI images/<subject>_<eye>_<visit>.jpg  optic-disc crops of the same photos

Both sheets have two header rows: merged group cells (``Progression Status``,
``OCT RNFL thickness``, ``VF``) over their sub-columns (``PLR2``/``PLR3``/``MD``,
``Mean``/``S``/``N``/``I``/``T``, visual-field points ``0``..``60``; ``-1``
marks the blind spot). Columns are found by name, never by position. Visits
without a photo have ``/`` in ``Corresponding CFP``. Every eye is glaucomatous;
the task is progression: an eye is ``progressing`` when the chosen criterion
(PLR2, PLR3, MD, or any of them) is 1, else ``stable``. An eye's visits are
near-duplicates: split by subject.
"""

from __future__ import annotations

import dataclasses

import logging
import re
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from medscreen.datasets._grape_sheet import Sheet, read_sheets
from medscreen.datasets._layout import find_child, layout_error, list_files, resolve_root
from medscreen.datasets.records import DatasetIndex, Record
from medscreen.errors import ConfigError, did_you_mean

__all__ = ["GRAPE_CRITERIA", "GRAPE_WORKBOOK", "looks_like_grape", "read_grape", "read_grape_eyes", "relabel_grape", "with_grape_images"]

logger = logging.getLogger(__name__)

GRAPE_WORKBOOK = "VF and clinical information.xlsx"
GRAPE_CRITERIA: tuple[str, ...] = ("any", "PLR2", "PLR3", "MD")
_IMAGE_FOLDERS = {"roi": "ROI images", "cfp": "CFPs"}
_FLAGS = ("plr2", "plr3", "md")
_PHOTO = re.compile(r"^(?P<subject>\d+)_(?P<eye>O[DS])_(?P<visit>\d+)\.jpe?g$", re.IGNORECASE)
_EXPECTED = f"the workbook {GRAPE_WORKBOOK!r} beside the folders 'ROI images' and/or 'CFPs'"

# field → (column name(s), group or None, required). Names are matched ignoring case and spacing.
_BASELINE: dict[str, tuple[tuple[str, ...], str | None, bool]] = {
    "subject": (("Subject Number",), None, True),
    "eye": (("Laterality",), None, True),
    "age": (("Age",), None, False),
    "gender": (("Gender",), None, False),
    "iop": (("IOP",), None, False),
    "cct": (("CCT",), None, False),
    "total_visits": (("Total Visits",), None, False),
    "plr2": (("PLR2",), "Progression Status", True),
    "plr3": (("PLR3",), "Progression Status", True),
    "md": (("MD",), "Progression Status", True),
    "category": (("Category of Glaucoma",), None, False),
    "rnfl_mean": (("Mean",), "OCT RNFL thickness", False),
    "rnfl_s": (("S",), "OCT RNFL thickness", False),
    "rnfl_n": (("N",), "OCT RNFL thickness", False),
    "rnfl_i": (("I",), "OCT RNFL thickness", False),
    "rnfl_t": (("T",), "OCT RNFL thickness", False),
    "baseline_cfp": (("Corresponding CFP",), None, True),
    "device": (("Acquisition Device",), None, False),
    "resolution": (("Resolusion", "Resolution"), None, False),
}
_FOLLOW_UP: dict[str, tuple[tuple[str, ...], str | None, bool]] = {
    "subject": (("Subject Number",), None, True),
    "eye": (("Laterality",), None, True),
    "visit": (("Visit Number",), None, True),
    "interval_years": (("Interval Years",), None, False),
    "iop": (("IOP",), None, False),
    "photo": (("Corresponding CFP",), None, True),
    "device": (("Acquisition Device",), None, False),
    "resolution": (("Resolusion", "Resolution"), None, False),
}
_INTS = {"subject", "age", "cct", "total_visits", "visit", "plr2", "plr3", "md"}
_FLOATS = {"iop", "interval_years", "rnfl_mean", "rnfl_s", "rnfl_n", "rnfl_i", "rnfl_t"}


def _is_grape(folder: Path) -> bool:
    return find_child(folder, GRAPE_WORKBOOK, is_dir=False) is not None


def looks_like_grape(root: Path) -> bool:
    """Whether ``root`` holds ``VF and clinical information.xlsx``."""
    return resolve_root(Path(root), _is_grape, inner=("GRAPE",)) is not None


def read_grape(
    root: Path,
    *,
    images: Literal["roi", "cfp"] = "roi",
    criterion: Literal["any", "PLR2", "PLR3", "MD"] = "any",
) -> DatasetIndex:
    """Index GRAPE: one :class:`Record` per follow-up visit that has a photo.

    Args:
        root: the folder holding the workbook and the image folders.
        images: ``roi`` for the optic-disc crops in ``ROI images/`` (all photos),
            ``cfp`` for the full photos in ``CFPs/``; visits whose CFP is absent
            are left out with one summary warning (the project's copy is a subset).
        criterion: progression criterion for the label: ``PLR2``, ``PLR3``,
            ``MD`` or ``any`` of them.

    Returns:
        A :class:`DatasetIndex` named ``grape``. ``label`` is the eye's
        ``progressing``/``stable``; ``patient_id`` is ``str(subject)``; ``key``
        the photo stem (``1_OD_2``). ``fields``: ``subject``, ``eye``, ``visit``,
        ``interval_years``, ``iop`` (that visit's; ``baseline_iop``), ``device``/``resolution``
        (the camera of that visit's photo), baseline ``age``, ``gender``, ``cct``,
        ``category``, ``rnfl_mean``/``_s``/``_n``/``_i``/``_t``, ``plr2``/
        ``plr3``/``md`` (0/1), ``vf`` (61 visual-field values of that visit,
        ``-1`` = blind spot, or ``None``), ``roi_path``/``cfp_path`` (str or ``None``).

    Raises:
        DatasetLayoutError: no workbook, an unreadable workbook, a missing
            sheet or required column, or no folder for ``images``.
        ConfigError: ``images`` or ``criterion`` is not one of the choices.
    """
    images = _check_choice("images", images, tuple(_IMAGE_FOLDERS))  # type: ignore[assignment]
    criterion = _check_choice("criterion", criterion, GRAPE_CRITERIA)  # type: ignore[assignment]
    root = Path(root)
    folder, workbook = _find_workbook(root)
    index = DatasetIndex(name="grape", root=root)
    baseline, follow_up = read_sheets(workbook, ("Baseline", "Follow-up"))
    eyes = _read_eyes(index, baseline)
    visits = _read_rows(index, follow_up, _FOLLOW_UP)

    folders = {kind: find_child(folder, name) for kind, name in _IMAGE_FOLDERS.items()}
    if folders[images] is None:
        other = "cfp" if images == "roi" else "roi"
        expected = f"the folder {_IMAGE_FOLDERS[images]!r} beside {GRAPE_WORKBOOK!r}"
        raise layout_error("GRAPE", folder, expected, f"Unzip it there, or use images={other!r}.")
    files = {kind: {p.name.casefold(): p for p in list_files(d)} if d else {} for kind, d in folders.items()}
    used: set[str] = set()
    absent_cfps = 0
    for where, visit in visits:
        eye = eyes.get((visit["subject"], visit["eye"]))
        if visit["photo"] is None:
            continue
        if eye is None:
            index.error(where, f"subject {visit['subject']} {visit['eye']} is not in sheet 'Baseline'; visit left out")
            continue
        name = str(visit["photo"])
        expected = f"{visit['subject']}_{visit['eye']}_{visit['visit']}.jpg"
        if _PHOTO.match(name) is None or name.casefold() != expected.casefold():
            index.warn(where, f"photo {name!r} is not named {expected!r} ('<subject>_<eye>_<visit>.jpg')")
        paths = {kind: files[kind].get(name.casefold()) for kind in _IMAGE_FOLDERS}
        image = paths[images]
        used.add(name.casefold())
        if image is None:
            if images == "cfp":
                absent_cfps += 1
            else:
                index.error(where, f"photo {name!r} not found in {folders[images]}; visit left out")
            continue
        index.records.append(
            Record(
                image=image,
                label=_label(eye, criterion),
                patient_id=str(visit["subject"]),
                dataset="grape",
                key=Path(name).stem,
                fields=_visit_fields(eye, visit, paths),
            )
        )
    if absent_cfps:
        index.warn(
            folders["cfp"] or folder,
            f"{absent_cfps} of {absent_cfps + len(index.records)} photos named in the workbook are not in CFPs/ "
            "(a partial copy); those visits are left out. Use images='roi' to read every photo.",
        )
    for lower, path in files[images].items():
        if lower not in used:
            index.warn(path, "photo not named in sheet 'Follow-up'; ignored")
    index.records.sort(key=lambda r: (r.fields["subject"], r.fields["eye"], r.fields["visit"]))
    logger.info("GRAPE %s (%s): %d photos %s", folder, images, len(index.records), index.label_counts())
    return index


def read_grape_eyes(root: Path, *, criterion: Literal["any", "PLR2", "PLR3", "MD"] = "any") -> pd.DataFrame:
    """One row per eye from sheet ``Baseline``, for clinical-only progression models.

    Columns: ``subject``, ``eye``, ``age``, ``gender``, ``iop``, ``cct``,
    ``total_visits``, ``category``, ``rnfl_mean``/``_s``/``_n``/``_i``/``_t``
    (NaN where not measured), ``plr2``/``plr3``/``md`` (0/1), ``label``
    (``progressing``/``stable`` by ``criterion``), ``baseline_cfp``, ``device``,
    ``resolution``, ``n_visits`` and ``photos`` (the eye's photo names from
    ``Follow-up``), and ``vf_0``..``vf_60`` (baseline visual field, -1 = blind spot).
    Problems in the rows are logged as warnings; rows that cannot be used are left out.

    Raises:
        DatasetLayoutError: as :func:`read_grape` for the workbook.
        ConfigError: ``criterion`` is not one of :data:`GRAPE_CRITERIA`.
    """
    criterion = _check_choice("criterion", criterion, GRAPE_CRITERIA)  # type: ignore[assignment]
    _, workbook = _find_workbook(Path(root))
    index = DatasetIndex(name="grape", root=Path(root))
    baseline, follow_up = read_sheets(workbook, ("Baseline", "Follow-up"))
    eyes = _read_eyes(index, baseline)
    visits = _read_rows(index, follow_up, _FOLLOW_UP)
    for problem in index.problems:
        logger.warning("%s", problem)
    rows = []
    for (subject, eye), fields in eyes.items():
        own = [v for _, v in visits if (v["subject"], v["eye"]) == (subject, eye)]
        vf = fields.get("vf") or [None] * 61
        row = {k: v for k, v in fields.items() if k != "vf"}
        row["label"] = _label(fields, criterion)
        row["n_visits"] = len(own)
        row["photos"] = [str(v["photo"]) for v in sorted(own, key=lambda v: v["visit"]) if v["photo"] is not None]
        row.update({f"vf_{i}": value for i, value in enumerate(vf)})
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.sort_values(["subject", "eye"], ignore_index=True) if len(frame) else frame


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` as spelled in ``choices`` (matched ignoring case).

    Raises:
        ConfigError: not one of ``choices``; the message suggests the closest.
    """
    folded = {c.casefold(): c for c in choices}
    if str(value).casefold() in folded:
        return folded[str(value).casefold()]
    raise ConfigError(f"GRAPE {name}={value!r} is not one of {', '.join(choices)}."
                      + did_you_mean(value, choices, fold=True, sentence=True))


def _find_workbook(root: Path) -> tuple[Path, Path]:
    folder = resolve_root(root, _is_grape, inner=("GRAPE",))
    if folder is None:
        raise layout_error("GRAPE", root, _EXPECTED)
    workbook = find_child(folder, GRAPE_WORKBOOK, is_dir=False)
    assert workbook is not None  # _is_grape found it
    return folder, workbook


def _visit_fields(eye: dict[str, Any], visit: dict[str, Any], paths: dict[str, Path | None]) -> dict[str, Any]:
    """The eye's baseline fields overlaid with the visit's (IOP, VF, camera) and both photo paths."""
    fields = {**eye, "baseline_iop": eye.get("iop"), **{k: v for k, v in visit.items() if k != "photo"}}
    fields["device"] = visit.get("device") or eye.get("device")
    fields["resolution"] = visit.get("resolution") or eye.get("resolution")
    fields["roi_path"] = str(paths["roi"]) if paths["roi"] else None
    fields["cfp_path"] = str(paths["cfp"]) if paths["cfp"] else None
    return fields


def relabel_grape(records: list[Record], criterion: str) -> list[Record]:
    """GRAPE records relabelled by another progression ``criterion`` (others pass unchanged).

    Raises:
        ConfigError: ``criterion`` is not one of :data:`GRAPE_CRITERIA`.
    """
    criterion = _check_choice("criterion", criterion, GRAPE_CRITERIA)
    return [dataclasses.replace(r, label=_label(r.fields, criterion)) if r.dataset == "grape" else r for r in records]


def with_grape_images(records: list[Record], images: Literal["roi", "cfp"]) -> list[Record]:
    """GRAPE records pointing at their ``roi`` crop or ``cfp`` full photo (others pass unchanged).

    Visits without that file (this copy's CFPs cover subjects 1–109) are left out.
    """
    images = _check_choice("images", images, tuple(_IMAGE_FOLDERS))  # type: ignore[assignment]
    out = []
    for r in records:
        if r.dataset != "grape":
            out.append(r)
            continue
        path = r.fields.get(f"{images}_path")
        if path:
            out.append(dataclasses.replace(r, image=Path(path)))
    return out


def _label(eye: dict[str, Any], criterion: str) -> str | None:
    """``progressing``/``stable`` by the criterion; ``None`` when the flag(s) are unknown."""
    flags = [eye.get(f) for f in _FLAGS] if criterion == "any" else [eye.get(criterion.casefold())]
    if any(f == 1 for f in flags):
        return "progressing"
    return "stable" if all(f == 0 for f in flags) else None


def _read_eyes(index: DatasetIndex, sheet: Sheet) -> dict[tuple[int, str], dict[str, Any]]:
    eyes: dict[tuple[int, str], dict[str, Any]] = {}
    for where, row in _read_rows(index, sheet, _BASELINE):
        for flag in _FLAGS:
            if row[flag] not in (0, 1):
                index.error(where, f"{flag.upper()} is {row[flag]!r}, expected 0 or 1; progression label unknown")
                row[flag] = None
        key = (row["subject"], row["eye"])
        if key in eyes:
            index.error(where, f"subject {key[0]} {key[1]} appears twice in sheet 'Baseline'; later row left out")
            continue
        eyes[key] = row
    return eyes


def _read_rows(
    index: DatasetIndex, sheet: Sheet, spec: dict[str, tuple[tuple[str, ...], str | None, bool]]
) -> list[tuple[str, dict[str, Any]]]:
    """Typed rows of a sheet as ``(where, {field: value})``; rows without subject/eye are errors."""
    columns: dict[str, int | None] = {}
    for field, (names, group, required) in spec.items():
        columns[field] = sheet.column(names, group, required=required)
        if columns[field] is None:
            index.warn(sheet.where(), f"column {names[0]!r} not found in sheet {sheet.name!r}; {field!r} left empty")
    vf_columns = sheet.vf_columns()
    if vf_columns is None:
        index.warn(sheet.where(), f"no 'VF' columns 0..60 in sheet {sheet.name!r}; visual fields left empty")
    rows = []
    for line, cells in sheet.rows:
        where = sheet.where(line)
        row = {field: _convert(field, cells[j] if j is not None else None) for field, j in columns.items()}
        if isinstance(row["eye"], str):
            row["eye"] = row["eye"].upper()
        if row["subject"] is None or row["eye"] not in ("OD", "OS") or ("visit" in spec and row["visit"] is None):
            index.error(where, "subject, laterality (OD/OS) or visit number missing or malformed; row left out")
            continue
        row["vf"] = _vf(cells, vf_columns)
        rows.append((where, row))
    return rows


def _convert(field: str, value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if value in ("", "/", "-"):
            return None
    if value is None:
        return None
    try:
        if field in _INTS:
            number = float(value)
            return int(number) if number.is_integer() else number
        if field in _FLOATS:
            return float(value)
    except (TypeError, ValueError):
        return value  # kept as given; malformed flags are reported by the caller
    return str(value) if not isinstance(value, str) else value


def _vf(cells: tuple[Any, ...], columns: list[int] | None) -> list[float] | None:
    if columns is None:
        return None
    values = [cells[j] for j in columns]
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        return None

