"""Tests for the BUSI reader on tiny generated trees and, when present, the real data."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from medscreen.datasets.busi import looks_like_busi, read_busi
from medscreen.errors import DatasetLayoutError


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8)).save(path)


def _busi(root: Path, names: list[str]) -> Path:
    inner = root / "Dataset_BUSI_with_GT"
    for name in names:
        _png(inner / name.split(" (")[0] / name)
    return inner


FULL = [
    "benign (1).png", "benign (1)_mask.png",
    "benign (2).png", "benign (2)_mask.png", "benign (2)_mask_1.png", "benign (2)_mask_2.png",
    "benign (10).png", "benign (10)_mask.png",
    "malignant (1).png", "malignant (1)_mask.png",
    "normal (1).png", "normal (1)_mask.png",
]  # fmt: skip


@pytest.mark.parametrize("inner", [False, True])
def test_reads_classes_masks_and_keys(tmp_path: Path, inner: bool) -> None:
    folder = _busi(tmp_path, FULL)
    index = read_busi(folder if inner else tmp_path)
    assert index.name == "busi" and index.problems == []
    assert [r.key for r in index.records] == ["normal (1)", "benign (1)", "benign (2)", "benign (10)", "malignant (1)"]
    assert index.label_counts() == {"benign": 3, "malignant": 1, "normal": 1}
    two = next(r for r in index.records if r.key == "benign (2)")
    assert [m.name for m in two.masks] == ["benign (2)_mask.png", "benign (2)_mask_1.png", "benign (2)_mask_2.png"]
    assert all(r.patient_id is None and r.dataset == "busi" for r in index.records)
    assert two.image == folder / "benign" / "benign (2).png"


def test_looks_like(tmp_path: Path) -> None:
    folder = _busi(tmp_path / "busi", FULL)
    assert looks_like_busi(tmp_path / "busi") and looks_like_busi(folder)
    assert not looks_like_busi(tmp_path) and not looks_like_busi(folder / "benign")
    (tmp_path / "other" / "normal").mkdir(parents=True)  # a class-named folder alone is not BUSI
    assert not looks_like_busi(tmp_path / "other")


def test_image_without_mask_is_an_error(tmp_path: Path) -> None:
    _busi(tmp_path, ["benign (1).png", "benign (1)_mask.png", "benign (3).png", "malignant (2)_mask_1.png",
                     "malignant (2).png"])  # fmt: skip
    index = read_busi(tmp_path)
    assert [r.key for r in index.records] == ["benign (1)"]
    errors = {Path(p.path).name: p.message for p in index.errors}
    assert set(errors) == {"benign (3).png", "malignant (2).png"}
    assert "benign (3)_mask.png" in errors["benign (3).png"]


def test_orphans_unexpected_and_missing_class_are_warnings(tmp_path: Path) -> None:
    folder = _busi(tmp_path, ["benign (1).png", "benign (1)_mask.png", "benign (4)_mask.png", "benign (5) copy.png",
                              "malignant (1).png", "malignant (1)_mask.png"])  # fmt: skip
    (folder / "benign" / ".DS_Store").write_bytes(b"")
    _png(folder / "malignant" / "benign (7).png")
    _png(folder / "malignant" / "benign (7)_mask.png")
    index = read_busi(tmp_path)
    assert not index.errors
    warned = " | ".join(str(p) for p in index.problems)
    assert "benign (4)_mask.png" in warned and "benign (5) copy.png" in warned and "'normal'" in warned
    assert ".DS_Store" not in warned
    moved = next(r for r in index.records if r.key == "benign (7)")
    assert moved.label == "malignant"  # the folder decides


def test_wrong_folder_raises_layout_error(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetLayoutError) as info:
        read_busi(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "'benign'" in message and "Dataset_BUSI_with_GT" in message
    assert "--manifest" in message
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        read_busi(tmp_path / "missing")


@pytest.mark.data
def test_real_busi(data_dir: Path) -> None:
    index = read_busi(data_dir / "busi")
    assert index.problems == []
    assert index.label_counts() == {"benign": 350, "malignant": 168, "normal": 106}
    extra = [r for r in index.records if len(r.masks) > 1]
    # The data README says 18; the copy here has 12 images with 13 extra masks ('benign (195)' has two).
    assert len(extra) == 12 and sum(len(r.masks) - 1 for r in extra) == 13
    assert all(p.is_file() for r in index.records for p in (r.image, *r.masks))
    assert len({r.key for r in index.records}) == 624
