"""Tests for the IDRiD part A reader on tiny generated trees and, when present, the real data."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from medscreen.datasets.idrid import looks_like_idrid, read_idrid
from medscreen.errors import DatasetLayoutError

SEG = "A. Segmentation"
IMAGES = "1. Original Images"
TRUTHS = "2. All Segmentation Groundtruths"


def _file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB" if path.suffix == ".jpg" else "L", (8, 8)).save(path)


def _idrid(root: Path, train: range = range(1, 4), test: range | None = range(55, 57)) -> Path:
    seg = root / SEG
    for subset, numbers in (("a. Training Set", train), ("b. Testing Set", test)):
        for n in numbers or ():
            _file(seg / IMAGES / subset / f"IDRiD_{n:02d}.jpg")
            _file(seg / TRUTHS / subset / "5. Optic Disc" / f"IDRiD_{n:02d}_OD.tif")
            _file(seg / TRUTHS / subset / "1. Microaneurysms" / f"IDRiD_{n:02d}_MA.tif")
    (seg / "LICENSE.txt").write_text("CC BY 4.0")
    return seg


@pytest.mark.parametrize("inner", [False, True])
def test_reads_training_and_testing_sets(tmp_path: Path, inner: bool) -> None:
    seg = _idrid(tmp_path)
    index = read_idrid(seg if inner else tmp_path)
    assert index.name == "idrid" and index.problems == []
    assert [r.key for r in index.records] == ["IDRiD_01", "IDRiD_02", "IDRiD_03", "IDRiD_55", "IDRiD_56"]
    assert [r.fields["subset"] for r in index.records] == ["train"] * 3 + ["test"] * 2
    first = index.records[0]
    assert first.masks == (seg / TRUTHS / "a. Training Set" / "5. Optic Disc" / "IDRiD_01_OD.tif",)
    assert first.label is None and first.patient_id is None and first.dataset == "idrid"


def test_training_set_only(tmp_path: Path) -> None:
    _idrid(tmp_path, test=None)
    index = read_idrid(tmp_path)
    assert len(index.records) == 3 and index.problems == []


def test_looks_like(tmp_path: Path) -> None:
    seg = _idrid(tmp_path / "idrid")
    assert looks_like_idrid(tmp_path / "idrid") and looks_like_idrid(seg)
    assert not looks_like_idrid(tmp_path) and not looks_like_idrid(seg / IMAGES)


def test_image_without_mask_is_an_error(tmp_path: Path) -> None:
    seg = _idrid(tmp_path)
    (seg / TRUTHS / "b. Testing Set" / "5. Optic Disc" / "IDRiD_56_OD.tif").unlink()
    _file(seg / TRUTHS / "a. Training Set" / "5. Optic Disc" / "IDRiD_09_OD.tif")
    (seg / IMAGES / "a. Training Set" / "notes.txt").write_text("x")
    index = read_idrid(tmp_path)
    assert "IDRiD_56" not in {r.key for r in index.records}
    assert len(index.errors) == 1 and "IDRiD_56_OD.tif" in index.errors[0].message
    warned = " | ".join(str(p) for p in index.problems if p.severity.value == "warning")
    assert "IDRiD_09_OD.tif" in warned and "notes.txt" in warned


def test_missing_optic_disc_folder_is_one_error(tmp_path: Path) -> None:
    seg = _idrid(tmp_path)
    for mask in (seg / TRUTHS / "b. Testing Set" / "5. Optic Disc").iterdir():
        mask.unlink()
    (seg / TRUTHS / "b. Testing Set" / "5. Optic Disc").rmdir()
    index = read_idrid(tmp_path)
    assert len(index.records) == 3
    assert len(index.errors) == 1 and "5. Optic Disc" in index.errors[0].path


def test_wrong_folder_raises_layout_error(tmp_path: Path) -> None:
    (tmp_path / "Training").mkdir()
    with pytest.raises(DatasetLayoutError) as info:
        read_idrid(tmp_path)
    assert "A. Segmentation" in str(info.value) and "1. Original Images" in str(info.value)
    (tmp_path / SEG / IMAGES).mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="a. Training Set"):
        read_idrid(tmp_path)


@pytest.mark.data
def test_real_idrid(data_dir: Path) -> None:
    index = read_idrid(data_dir / "idrid")
    assert index.problems == []
    assert [r.key for r in index.records] == [f"IDRiD_{n:02d}" for n in range(1, 55)]
    assert all(r.fields["subset"] == "train" and len(r.masks) == 1 for r in index.records)
    assert all(p.is_file() for r in index.records for p in (r.image, *r.masks))
