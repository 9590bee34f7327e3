"""Tests for the ACRIMA reader on tiny generated trees and, when present, the real data."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from medscreen.datasets.acrima import looks_like_acrima, read_acrima
from medscreen.errors import DatasetLayoutError

NAMES = ["Im001_ACRIMA.jpg", "Im002_g_ACRIMA.jpg", "Im010_ACRIMA.JPG", "Im702_g_ACRIMA.JPG"]


def _acrima(root: Path, names: list[str] = NAMES) -> Path:
    images = root / "Database" / "Images"
    images.mkdir(parents=True)
    for name in names:
        Image.new("RGB", (8, 8)).save(images / name, format="JPEG")
    (root / "Database" / "Readme.txt").write_text("ACRIMA database")
    return images


@pytest.mark.parametrize("level", ["top", "database", "images"])
def test_reads_labels_from_names(tmp_path: Path, level: str) -> None:
    images = _acrima(tmp_path)
    root = {"top": tmp_path, "database": tmp_path / "Database", "images": images}[level]
    assert looks_like_acrima(root)
    index = read_acrima(root)
    assert index.name == "acrima" and index.problems == []
    assert [r.key for r in index.records] == ["Im001_ACRIMA", "Im002_g_ACRIMA", "Im010_ACRIMA", "Im702_g_ACRIMA"]
    assert [r.label for r in index.records] == ["normal", "glaucoma", "normal", "glaucoma"]
    assert all(r.masks == () and r.patient_id is None for r in index.records)


def test_unexpected_names_are_warnings(tmp_path: Path) -> None:
    images = _acrima(tmp_path, [*NAMES, "Im003_ACRIMA (copy).jpg", "scan.png"])
    (images / "Thumbs.db").write_bytes(b"")
    index = read_acrima(tmp_path)
    assert len(index.records) == 4 and not index.errors
    assert sorted(Path(p.path).name for p in index.problems) == ["Im003_ACRIMA (copy).jpg", "scan.png"]


def test_wrong_folder_raises_layout_error(tmp_path: Path) -> None:
    (tmp_path / "Database" / "Images").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "Database" / "Images" / "fundus.jpg")
    assert not looks_like_acrima(tmp_path)
    with pytest.raises(DatasetLayoutError) as info:
        read_acrima(tmp_path)
    assert "ImNNN_g_ACRIMA.jpg" in str(info.value) and str(tmp_path) in str(info.value)


@pytest.mark.data
def test_real_acrima(data_dir: Path) -> None:
    index = read_acrima(data_dir / "acrima")
    assert index.problems == []
    assert index.label_counts() == {"glaucoma": 396, "normal": 309}
    assert sum(r.image.suffix == ".JPG" for r in index.records) == 2
    assert all(r.image.is_file() for r in index.records)
