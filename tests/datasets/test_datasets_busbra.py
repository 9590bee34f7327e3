"""Tests for the BUS-BRA reader on tiny generated trees and, when present, the real data."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from medscreen.datasets.busbra import looks_like_busbra, read_busbra
from medscreen.errors import DatasetLayoutError

HEADER = "ID,Case,Histology,Pathology,BIRADS,Device,Width,Height,Side,BBOX"
ROWS = [
    'bus_0001-l,1,fibroadenoma,benign,4,GE Logiq 7 @10-14MHz,8,8,left,"[1,2,3,4]"',
    'bus_0001-r,1,cyst,benign,2,GE Logiq 7 @10-14MHz,8,9,right,"[0,0,5,5]"',
    'bus_0002-s,2,invasive ductal carcinoma,malignant,5,Toshiba Aplio 300 @12-14 MHz,8,8,single,"[2,2,4,4]"',
]


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8)).save(path)


def _busbra(root: Path, rows: list[str] = ROWS, header: str = HEADER, folds: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "bus_data.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    for row in rows:
        image_id = row.split(",")[0]
        _png(root / "Images" / f"{image_id}.png")
        _png(root / "Masks" / f"mask_{image_id[4:]}.png")
    if folds:
        ids = [r.split(",")[0] for r in rows]
        (root / "5-fold-cv.csv").write_text(
            "ID,Pathology,kFold,valid_1\n" + "".join(f"{i},benign,{n % 5 + 1},1\n" for n, i in enumerate(ids))
        )
        (root / "10-fold-cv.csv").write_text("ID,Pathology,kFold\n" + "".join(f"{i},benign,10\n" for i in ids))
    return root


def test_reads_rows_fields_and_folds(tmp_path: Path) -> None:
    _busbra(tmp_path)
    index = read_busbra(tmp_path)
    assert index.name == "bus-bra" and index.problems == []
    assert [r.key for r in index.records] == ["bus_0001-l", "bus_0001-r", "bus_0002-s"]
    first = index.records[0]
    assert first.patient_id == "1" and first.label == "benign" and first.dataset == "bus-bra"
    assert first.image == tmp_path / "Images" / "bus_0001-l.png"
    assert first.masks == (tmp_path / "Masks" / "mask_0001-l.png",)
    assert first.fields == {
        "histology": "fibroadenoma", "birads": 4, "device": "GE Logiq 7 @10-14MHz", "width_csv": 8,
        "height_csv": 8, "side": "left", "bbox": [1, 2, 3, 4], "fold5": 1, "fold10": 10,
    }  # fmt: skip
    assert index.label_counts() == {"benign": 2, "malignant": 1}
    assert {r.patient_id for r in index.records} == {"1", "2"}


def test_nested_busbra_folder_and_no_fold_files(tmp_path: Path) -> None:
    _busbra(tmp_path / "BUSBRA", folds=False)
    assert looks_like_busbra(tmp_path) and looks_like_busbra(tmp_path / "BUSBRA")
    index = read_busbra(tmp_path)
    assert len(index.records) == 3 and "fold5" not in index.records[0].fields
    assert not looks_like_busbra(tmp_path / "BUSBRA" / "Images")


def test_missing_files_and_bad_values(tmp_path: Path) -> None:
    _busbra(tmp_path)
    (tmp_path / "Masks" / "mask_0001-r.png").unlink()
    (tmp_path / "Images" / "bus_0002-s.png").unlink()
    _png(tmp_path / "Images" / "bus_0009-s.png")
    with (tmp_path / "bus_data.csv").open("a") as f:
        f.write('bus_0003-s,3,x,unknown,3,dev,8,8,single,"[1,2]"\n')
        f.write('bus_0004-s,4,x,Benign,4A,dev,8,8,single,"[1,2]"\n')
    _png(tmp_path / "Images" / "bus_0004-s.png")
    _png(tmp_path / "Masks" / "mask_0004-s.png")
    index = read_busbra(tmp_path)
    assert [r.key for r in index.records] == ["bus_0001-l", "bus_0004-s"]
    errors = " | ".join(p.message for p in index.errors)
    assert "mask_0001-r.png" in errors and "Images/bus_0002-s.png" in errors and "'unknown'" in errors
    warnings = " | ".join(str(p) for p in index.problems if p not in index.errors)
    assert "bus_0009-s.png" in warnings and "BBOX" in warnings
    last = index.records[-1]
    assert last.label == "benign" and last.fields["birads"] == "4A" and last.fields["bbox"] is None


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    _busbra(tmp_path, rows=[r.rsplit(",", 4)[0] for r in ROWS], header="ID,Case,Histology,Pathology,BIRADS,Device")
    with pytest.raises(DatasetLayoutError) as info:
        read_busbra(tmp_path)
    assert "bus_data.csv" in str(info.value) and "'Width'" in str(info.value)


def test_wrong_folder_raises_layout_error(tmp_path: Path) -> None:
    (tmp_path / "Images").mkdir()
    with pytest.raises(DatasetLayoutError, match="bus_data.csv"):
        read_busbra(tmp_path)


@pytest.mark.data
def test_real_busbra(data_dir: Path) -> None:
    index = read_busbra(data_dir / "bus-bra")
    assert index.problems == []
    assert len(index.records) == 571 and len({r.patient_id for r in index.records}) == 319
    assert index.label_counts() == {"benign": 394, "malignant": 177}
    assert all(p.is_file() for r in index.records for p in (r.image, *r.masks))
    assert {r.fields["fold5"] for r in index.records} == set(range(1, 6))
    assert {r.fields["fold10"] for r in index.records} == set(range(1, 11))
    assert all(len(r.fields["bbox"]) == 4 and isinstance(r.fields["height_csv"], int) for r in index.records)
    # folds are patient-level: one fold per patient
    folds: dict[str, set[int]] = {}
    for r in index.records:
        folds.setdefault(r.patient_id or "", set()).add(r.fields["fold5"])
    assert all(len(f) == 1 for f in folds.values())
