"""Tests of medscreen.datasets.check on a small hand-built DatasetIndex."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from medscreen.datasets.check import CheckReport, check_index
from medscreen.datasets.records import DatasetIndex, Record, Severity


def _png(path: Path, width: int, height: int, seed: int = 0) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)
    Image.fromarray(pixels, mode="L").save(path)
    return path


def _messages(report: CheckReport, severity: Severity, path: Path) -> list[str]:
    return [p.message for p in report.problems if p.severity is severity and p.path == str(path)]


def _build(tmp_path: Path) -> tuple[DatasetIndex, dict[str, Path]]:
    f = {
        "good": _png(tmp_path / "good.png", 100, 80, seed=1),
        "good_mask": _png(tmp_path / "good_mask.png", 100, 80, seed=2),
        "wrong": _png(tmp_path / "wrong.png", 100, 80, seed=3),
        "wrong_mask": _png(tmp_path / "wrong_mask.png", 90, 80, seed=4),
        "missing": tmp_path / "missing.png",
        "strip": _png(tmp_path / "strip.png", 200, 30, seed=5),
        "bad_mask": tmp_path / "strip_mask.png",
    }
    f["dup"] = tmp_path / "copy_of_good.png"
    shutil.copyfile(f["good"], f["dup"])
    f["bad_mask"].write_text("not an image")
    index = DatasetIndex(
        name="toy",
        root=tmp_path,
        records=[
            Record(f["good"], (f["good_mask"],), "benign", dataset="toy", key="good"),
            Record(f["wrong"], (f["wrong_mask"],), "benign", dataset="toy", key="wrong"),
            Record(f["missing"], (), "normal", dataset="toy", key="missing"),
            Record(f["dup"], (), "malignant", dataset="toy", key="dup", fields={"width_csv": 100, "height_csv": 81}),
            Record(f["strip"], (f["bad_mask"],), None, dataset="toy", key="strip"),
        ],
    )
    index.warn(tmp_path, "found by the reader")
    return index, f


def test_check_index_counts_and_problems(tmp_path: Path) -> None:
    index, f = _build(tmp_path)
    progress: list[tuple[int, int]] = []
    report = check_index(index, on_progress=lambda done, total: progress.append((done, total)))

    assert report.name == "toy" and report.root == str(tmp_path)
    assert report.n_images == 5 and report.n_with_mask == 3
    assert report.label_counts == {"(none)": 1, "benign": 2, "malignant": 1, "normal": 1}
    assert report.min_size == (200, 30) and report.max_size == (100, 80)
    assert progress == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert not report.ok

    assert report.problems[0].message == "found by the reader"  # the index's own problems come first
    assert _messages(report, Severity.ERROR, f["good"]) == [] and _messages(report, Severity.ERROR, f["good_mask"]) == []
    (mismatch,) = _messages(report, Severity.ERROR, f["wrong_mask"])
    assert "mask 90×80 differs from image 100×80" in mismatch
    (missing,) = _messages(report, Severity.ERROR, f["missing"])
    assert "missing.png" in missing and "not found" in missing
    (bad_mask,) = _messages(report, Severity.ERROR, f["bad_mask"])
    assert "strip_mask.png: not an image" in bad_mask

    strip_warnings = " | ".join(_messages(report, Severity.WARNING, f["strip"]))
    assert "smaller than 64 px" in strip_warnings and "aspect ratio 6.7" in strip_warnings
    (table,) = _messages(report, Severity.WARNING, f["dup"])
    assert "100×81" in table and "file is 100×80" in table
    (duplicate,) = _messages(report, Severity.WARNING, f["good"])
    assert "copy_of_good.png" in duplicate and "benign, malignant" in duplicate

    assert len(report.errors) == 3 and len(report.warnings) == 5
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["n_errors"] == 3 and data["min_size"] == [200, 30]
    assert len(data["problems"]) == len(report.problems)


def test_check_index_without_hashing_and_clean_dataset(tmp_path: Path) -> None:
    index, f = _build(tmp_path)
    report = check_index(index, hash_duplicates=False)
    assert not any("identical" in p.message for p in report.problems)

    clean = DatasetIndex("clean", tmp_path, [Record(f["good"], (f["good_mask"],), "benign")])
    report = check_index(clean)
    assert report.ok and report.problems == [] and report.min_size == report.max_size == (100, 80)


def test_check_index_pixel_limit_and_same_file_twice(tmp_path: Path) -> None:
    image = _png(tmp_path / "a.png", 100, 80)
    index = DatasetIndex("twice", tmp_path, [Record(image, (), "x"), Record(image, (), "x")])
    report = check_index(index)
    assert report.ok
    assert any("listed 2 times" in p.message for p in report.warnings)
    report = check_index(index, max_pixels=1000)
    assert not report.ok and "exceeds the limit of 1,000" in report.errors[0].message
    assert report.min_size is None and report.max_size is None


def test_empty_index(tmp_path: Path) -> None:
    report = check_index(DatasetIndex("empty", tmp_path))
    assert report.ok and report.n_images == 0 and report.min_size is None
    assert report.to_dict()["label_counts"] == {}
