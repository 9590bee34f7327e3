"""Tests for the HYGD reader on tiny generated trees and, when present, the real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medscreen.datasets import detect_dataset, read_dataset
from medscreen.datasets.hygd import looks_like_hygd, read_hygd
from medscreen.errors import DatasetLayoutError


def _photo(path: Path, seed: int, fmt: str = "JPEG") -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(path, format=fmt)


def _hygd(root: Path, rows: list[str], files: dict[str, int]) -> Path:
    (root / "Images").mkdir(parents=True)
    for name, seed in files.items():
        _photo(root / "Images" / name, seed, "PNG" if name.startswith("png") else "JPEG")
    (root / "Labels.csv").write_text("Image Name,Patient,Label,Quality Score,\n" + "".join(r + "\n" for r in rows))
    return root


def test_reads_labels_patients_and_quality(tmp_path: Path) -> None:
    root = _hygd(tmp_path, ["0_0.jpg,0,GON+,6.18,", "0_1.jpg,0,GON+,,", "1_0.jpg,1,GON-,3.5,"],
                 {"0_0.jpg": 1, "0_1.jpg": 2, "1_0.jpg": 3})
    assert looks_like_hygd(root) and detect_dataset(root) == "hygd"
    index = read_hygd(root)
    assert index.name == "hygd" and index.problems == []
    assert [(r.key, r.label, r.patient_id) for r in index.records] == [
        ("0_0", "glaucoma", "hygd:0"), ("0_1", "glaucoma", "hygd:0"), ("1_0", "normal", "hygd:1")]
    assert index.records[0].fields["quality"] == pytest.approx(6.18)
    assert index.records[1].fields["quality"] is None


def test_png_inside_jpg_name_is_read_like_any_photo(tmp_path: Path) -> None:
    root = _hygd(tmp_path, ["2_0.jpg,2,GON-,4,"], {})
    _photo(root / "Images" / "2_0.jpg", 5, "PNG")  # the full download has PNG bytes under .jpg names
    from medscreen.io.images import read_image

    (rec,) = read_hygd(root).records
    assert read_image(rec.image, mode="rgb").shape == (8, 8, 3)


def test_identical_photos_of_two_patients_share_a_split_group(tmp_path: Path) -> None:
    root = _hygd(tmp_path, ["5_0.jpg,5,GON+,4,", "7_0.jpg,7,GON+,4,", "7_1.jpg,7,GON+,4,", "9_0.jpg,9,GON-,4,"],
                 {"5_0.jpg": 1, "7_0.jpg": 1, "7_1.jpg": 2, "9_0.jpg": 3})  # 5_0 and 7_0 are the same bytes
    index = read_hygd(root)
    assert [r.key for r in index.records] == ["5_0", "7_1", "9_0"]  # one copy kept
    groups = {r.key: r.patient_id for r in index.records}
    assert groups["5_0"] == groups["7_1"] == "hygd:5+7" and groups["9_0"] == "hygd:9"
    assert index.records[1].fields["patient"] == "7"


def test_bad_rows_are_named_and_unlisted_images_warned(tmp_path: Path) -> None:
    root = _hygd(tmp_path, ["0_0.jpg,0,GON+,1,", "3_0.jpg,3,GON+,1,", "4_0.jpg,4,maybe,1,"],
                 {"0_0.jpg": 1, "4_0.jpg": 2, "8_0.jpg": 3})
    index = read_hygd(root)
    assert [r.key for r in index.records] == ["0_0"]
    messages = " | ".join(f"{p.path}: {p.message}" for p in index.problems)
    assert "3_0.jpg" in messages and "not in" in messages
    assert "Labels.csv:4" in messages and "'MAYBE'" in messages
    assert "8_0.jpg" in messages and "no row" in messages
    assert len(index.errors) == 2


def test_missing_columns_and_wrong_folder_raise(tmp_path: Path) -> None:
    (tmp_path / "a" / "Images").mkdir(parents=True)
    (tmp_path / "a" / "Labels.csv").write_text("Name,Class\n0_0.jpg,GON+\n")
    with pytest.raises(DatasetLayoutError, match="Image Name"):
        read_hygd(tmp_path / "a")
    (tmp_path / "b").mkdir()
    assert not looks_like_hygd(tmp_path / "b")
    with pytest.raises(DatasetLayoutError, match="Labels.csv"):
        read_hygd(tmp_path / "b")


@pytest.mark.data
def test_real_hygd(data_dir: Path) -> None:
    index = read_dataset(data_dir / "hygd")
    assert index.name == "hygd" and not index.errors
    assert len(index.records) == 737  # 747 published, 10 byte-identical copies kept once
    assert index.label_counts() == {"glaucoma": 540, "normal": 197}
    # 288 patients published; 197 and 257 had only a copy of another patient's photo
    assert len({r.fields["patient"] for r in index.records}) == 286
    assert "hygd:65+81+110+180" in {r.patient_id for r in index.records}
