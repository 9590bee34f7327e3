"""Tests for the GRAPE reader on a tiny generated workbook and, when present, the real data.

The workbook mirrors the published one: two header rows, group cells merged
across their sub-columns, single columns merged over both rows, ``/`` for
missing photos and RNFL values, ``-1`` for the visual-field blind spot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from PIL import Image

from medscreen.datasets.grape import looks_like_grape, read_grape, read_grape_eyes
from medscreen.errors import ConfigError, DatasetLayoutError

Layout = list[tuple[str, list[Any] | None]]
BASELINE: Layout = [
    ("Subject Number", None), ("Laterality", None), ("Age", None), ("Gender", None), ("IOP", None), ("CCT", None),
    ("Total Visits", None), ("Progression Status", ["PLR2", "PLR3", "MD"]), ("Category of Glaucoma", None),
    ("OCT RNFL thickness", ["Mean", "S", "N", "I", "T"]), ("Corresponding CFP", None), ("Acquisition Device", None),
    ("Resolusion", None), ("VF", list(range(61))),
]  # fmt: skip
FOLLOW_UP: Layout = [
    ("Subject Number", None), ("Laterality", None), ("Visit Number", None), ("Interval Years", None), ("IOP", None),
    ("Corresponding CFP", None), ("Acquisition Device", None), ("Resolusion", None), ("VF", list(range(61))),
]  # fmt: skip
TOPCON, CANON = "TRC-NW8 Fundus Camera (TOPCON, Japan)", "CR-2 PLUS AF Digital Retinal Camera (CANON, Japan)"


def _vf(level: int) -> list[int]:
    return [-1 if i in (21, 32) else level for i in range(61)]  # the blind spot, as published


def _eye(subject: int, eye: str, flags: tuple[int, int, int], rnfl: Any = 90) -> dict[str, Any]:
    return {
        "Subject Number": subject, "Laterality": eye, "Age": 40 + subject, "Gender": "F", "IOP": 15.5, "CCT": 540,
        "Total Visits": 3, "PLR2": flags[0], "PLR3": flags[1], "MD": flags[2], "Category of Glaucoma": "OAG",
        "Mean": rnfl, "S": rnfl, "N": rnfl, "I": rnfl, "T": rnfl, "Corresponding CFP": f"{subject}_{eye}_1.jpg",
        "Acquisition Device": TOPCON, "Resolusion": "1556×1556", "VF": _vf(25),
    }  # fmt: skip


def _visit(subject: int, eye: str, visit: int, photo: bool = True) -> dict[str, Any]:
    return {
        "Subject Number": subject, "Laterality": eye, "Visit Number": visit, "Interval Years": 0.5 * (visit - 1),
        "IOP": 14 + visit, "Corresponding CFP": f"{subject}_{eye}_{visit}.jpg" if photo else "/",
        "Acquisition Device": CANON if photo else "/", "Resolusion": "2136×2136" if photo else "/", "VF": _vf(20 + visit),
    }  # fmt: skip


EYES = [_eye(1, "OD", (0, 0, 0)), _eye(1, "OS", (0, 0, 1)), _eye(2, "OS", (1, 0, 0), rnfl="/")]
VISITS = [
    _visit(1, "OD", 1), _visit(1, "OD", 2), _visit(1, "OD", 3, photo=False),
    _visit(1, "OS", 1), _visit(1, "OS", 2),
    _visit(2, "OS", 1), _visit(2, "OS", 2, photo=False), _visit(2, "OS", 3),
]  # fmt: skip
PHOTOS = ["1_OD_1", "1_OD_2", "1_OS_1", "1_OS_2", "2_OS_1", "2_OS_3"]


def _write_sheet(ws: Any, layout: Layout, rows: list[dict[str, Any]], style: Any = str) -> None:
    """Write ``rows`` under a two-row header; ``style`` rewrites the header text (case, spaces)."""
    columns: list[tuple[str, Any]] = []
    for top, subs in layout:
        col = len(columns) + 1
        ws.cell(1, col, style(top))
        if subs is None:
            ws.merge_cells(start_row=1, start_column=col, end_row=2, end_column=col)
            columns.append((top, None))
        else:
            ws.merge_cells(start_row=1, start_column=col, end_row=1, end_column=col + len(subs) - 1)
            for k, sub in enumerate(subs):
                ws.cell(2, col + k, style(sub) if isinstance(sub, str) else sub)
                columns.append((top, sub))
    for r, row in enumerate(rows, start=3):
        for c, (top, sub) in enumerate(columns, start=1):
            ws.cell(r, c, row[top] if sub is None else (row["VF"][sub] if top == "VF" else row[sub]))


def _grape(
    root: Path,
    baseline: Layout = BASELINE,
    follow_up: Layout = FOLLOW_UP,
    cfps: list[str] = PHOTOS[:4],
    rois: list[str] = PHOTOS,
    style: Any = str,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    book = Workbook()
    _write_sheet(book.active, baseline, EYES, style)
    book.active.title = "Baseline"
    _write_sheet(book.create_sheet("Follow-up"), follow_up, VISITS, style)
    book.save(root / "VF and clinical information.xlsx")
    for folder, names in (("CFPs", cfps), ("ROI images", rois)):
        (root / folder).mkdir(exist_ok=True)
        for name in names:
            Image.new("RGB", (8, 8)).save(root / folder / f"{name}.jpg")
    return root


def test_reads_photo_visits_with_eye_labels(tmp_path: Path) -> None:
    _grape(tmp_path)
    assert looks_like_grape(tmp_path) and not looks_like_grape(tmp_path / "CFPs")
    index = read_grape(tmp_path)
    assert index.name == "grape" and index.problems == []
    assert [r.key for r in index.records] == PHOTOS
    assert [r.label for r in index.records] == ["stable"] * 2 + ["progressing"] * 4
    assert [r.patient_id for r in index.records] == ["1"] * 4 + ["2"] * 2
    record = index.records[1]
    assert record.image == tmp_path / "ROI images" / "1_OD_2.jpg" and record.masks == ()
    f = record.fields
    assert (f["subject"], f["eye"], f["visit"], f["interval_years"], f["iop"]) == (1, "OD", 2, 0.5, 16)
    assert (f["age"], f["gender"], f["cct"], f["category"], f["baseline_iop"]) == (41, "F", 540, "OAG", 15.5)
    assert (f["plr2"], f["plr3"], f["md"], f["rnfl_mean"], f["rnfl_t"]) == (0, 0, 0, 90, 90)
    assert f["device"] == CANON and f["resolution"] == "2136×2136"
    assert len(f["vf"]) == 61 and f["vf"][0] == 22.0 and f["vf"][21] == -1.0
    assert all(isinstance(v, float) for v in f["vf"])
    assert f["roi_path"] == str(tmp_path / "ROI images" / "1_OD_2.jpg")
    assert f["cfp_path"] == str(tmp_path / "CFPs" / "1_OD_2.jpg")
    last = index.records[-1].fields
    assert last["rnfl_mean"] is None and last["cfp_path"] is None  # '/' in the sheet; CFP not in this copy


@pytest.mark.parametrize(("criterion", "progressing"), [("any", 4), ("PLR2", 2), ("PLR3", 0), ("MD", 2)])
def test_criteria(tmp_path: Path, criterion: str, progressing: int) -> None:
    _grape(tmp_path)
    index = read_grape(tmp_path, criterion=criterion)  # type: ignore[arg-type]
    assert index.label_counts().get("progressing", 0) == progressing


def test_cfp_images_skip_absent_photos_with_one_warning(tmp_path: Path) -> None:
    _grape(tmp_path)
    index = read_grape(tmp_path, images="cfp")
    assert [r.key for r in index.records] == PHOTOS[:4]
    assert index.records[0].image == tmp_path / "CFPs" / "1_OD_1.jpg"
    assert len(index.problems) == 1 and not index.errors
    assert "2 of 6" in index.problems[0].message


def test_missing_roi_photo_is_an_error_and_stray_file_a_warning(tmp_path: Path) -> None:
    _grape(tmp_path, rois=[*PHOTOS[:-1], "9_OD_1"])
    index = read_grape(tmp_path)
    assert len(index.records) == 5
    assert len(index.errors) == 1 and "2_OS_3.jpg" in index.errors[0].message and "Follow-up" in index.errors[0].path
    assert any("9_OD_1.jpg" in p.path for p in index.problems if p not in index.errors)


def test_columns_are_found_by_name_not_position(tmp_path: Path) -> None:
    _grape(tmp_path / "a")
    _grape(
        tmp_path / "b",
        baseline=list(reversed(BASELINE)),
        follow_up=list(reversed(FOLLOW_UP)),
        style=lambda name: f"  {name.upper().replace(' ', '   ')} ",
    )
    a, b = read_grape(tmp_path / "a"), read_grape(tmp_path / "b")
    assert b.problems == []
    assert [(r.key, r.label, r.fields["vf"], r.fields["age"]) for r in a.records] == [
        (r.key, r.label, r.fields["vf"], r.fields["age"]) for r in b.records
    ]


def test_missing_required_column_names_sheet_and_column(tmp_path: Path) -> None:
    baseline = [(t, [s for s in subs if s != "PLR3"] if subs else subs) for t, subs in BASELINE]
    _grape(tmp_path, baseline=baseline)
    with pytest.raises(DatasetLayoutError) as info:
        read_grape(tmp_path)
    assert "'Baseline'" in str(info.value) and "'PLR3'" in str(info.value)


def test_missing_optional_column_is_a_warning(tmp_path: Path) -> None:
    _grape(tmp_path, baseline=[c for c in BASELINE if c[0] != "CCT"])
    index = read_grape(tmp_path)
    assert len(index.records) == 6 and index.records[0].fields["cct"] is None
    assert any("'CCT'" in p.message for p in index.problems)


def test_bad_options_and_layouts(tmp_path: Path) -> None:
    _grape(tmp_path)
    assert read_grape(tmp_path, criterion="md").label_counts()["progressing"] == 2  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Did you mean 'PLR2'"):
        read_grape(tmp_path, criterion="PRL2")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="roi, cfp"):
        read_grape(tmp_path, images="jpg")  # type: ignore[arg-type]
    with pytest.raises(DatasetLayoutError, match="VF and clinical information.xlsx"):
        read_grape(tmp_path / "CFPs")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "VF and clinical information.xlsx").write_text("not a workbook")
    with pytest.raises(DatasetLayoutError, match="cannot be read as an Excel workbook"):
        read_grape(tmp_path / "bad")


def test_read_grape_eyes(tmp_path: Path) -> None:
    _grape(tmp_path)
    eyes = read_grape_eyes(tmp_path)
    assert list(eyes[["subject", "eye"]].itertuples(index=False, name=None)) == [(1, "OD"), (1, "OS"), (2, "OS")]
    assert eyes["label"].tolist() == ["stable", "progressing", "progressing"]
    assert eyes["n_visits"].tolist() == [3, 2, 3]
    assert eyes["photos"].iloc[2] == ["2_OS_1.jpg", "2_OS_3.jpg"]
    assert eyes["baseline_cfp"].tolist() == ["1_OD_1.jpg", "1_OS_1.jpg", "2_OS_1.jpg"]
    assert eyes["vf_32"].tolist() == [-1.0] * 3 and eyes["vf_0"].tolist() == [25.0] * 3
    assert eyes["rnfl_mean"].isna().tolist() == [False, False, True]


@pytest.mark.data
def test_real_grape(data_dir: Path) -> None:
    root = data_dir / "grape"
    eyes = read_grape_eyes(root)
    assert len(eyes) == 263 and eyes["subject"].nunique() == 144
    assert (eyes["label"] == "progressing").sum() == 54 and eyes["n_visits"].sum() == 1115
    roi = read_grape(root)
    assert roi.problems == [] and len(roi.records) == 631
    assert roi.label_counts() == {"progressing": 109, "stable": 522}
    assert len({r.patient_id for r in roi.records}) == 144
    assert all(r.image.is_file() and len(r.fields["vf"]) == 61 for r in roi.records)
    cfp = read_grape(root, images="cfp")
    assert len(cfp.records) == 451 and not cfp.errors
    assert all(r.image.is_file() and r.fields["roi_path"] for r in cfp.records)
    assert {int(r.patient_id or 0) for r in cfp.records} <= set(range(1, 110))
