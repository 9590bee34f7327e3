"""``medscreen data`` end to end: real datasets, bad folders, bad manifests, splits."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from medscreen.cli.main import app

runner = CliRunner()


def _write_manifest(tmp_path, rows, header="image,mask,label,patient_id"):
    path = tmp_path / "m.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def _png(path, size=(16, 16), value=0):
    Image.fromarray(np.full(size[::-1], value, np.uint8)).save(path)
    return path


@pytest.mark.data
def test_check_real_datasets_passes_and_reports_each(data_dir, tmp_path):
    out = tmp_path / "check.json"
    result = runner.invoke(app, ["data", "check", str(data_dir), "--json", str(out)])
    assert result.exit_code == 0, result.output
    reports = {r["name"]: r for r in json.loads(out.read_text())}
    assert set(reports) >= {"busi", "bus-bra", "idrid", "acrima", "grape"}
    assert reports["busi"]["n_with_mask"] == reports["busi"]["n_images"]
    assert all(r["ok"] for r in reports.values())


def test_check_manifest_with_problems_exits_nonzero(tmp_path):
    _png(tmp_path / "a.png")
    _png(tmp_path / "a_mask.png", size=(8, 8))
    _png(tmp_path / "b.png")
    m = _write_manifest(tmp_path, ["a.png,a_mask.png,benign,p1", "b.png,,malignant,p2", "missing.png,,benign,p3"])
    result = runner.invoke(app, ["data", "check", "--manifest", str(m)])
    assert result.exit_code == 1
    assert "missing.png" in result.output
    assert "differs" in result.output or "size" in result.output


def test_check_missing_column_is_a_one_line_error(tmp_path):
    m = _write_manifest(tmp_path, ["a.png,benign"], header="img,label")
    result = runner.invoke(app, ["data", "check", "--manifest", str(m)])
    assert result.exit_code == 2
    assert "image" in result.output and "Traceback" not in result.output


def test_check_unrecognised_folder_says_what_is_expected(tmp_path):
    (tmp_path / "holiday").mkdir()
    _png(tmp_path / "holiday" / "cat.png")
    result = runner.invoke(app, ["data", "check", str(tmp_path / "holiday")])
    assert result.exit_code == 2
    assert "--manifest" in result.output and "Traceback" not in result.output


def test_split_writes_a_patient_level_manifest(tmp_path):
    rows = []
    for i in range(20):
        _png(tmp_path / f"im{i}.png", value=i)
        rows.append(f"im{i}.png,,{'benign' if i % 2 else 'malignant'},p{i // 2}")
    m = _write_manifest(tmp_path, rows)
    out = tmp_path / "split.csv"
    result = runner.invoke(app, ["data", "split", "--manifest", str(m), "--out", str(out), "--val", "0.3"])
    assert result.exit_code == 0, result.output
    written = list(csv.DictReader(out.open()))
    assert len(written) == 20
    by_patient: dict[str, set[str]] = {}
    for r in written:
        by_patient.setdefault(r["patient_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_patient.values())
    assert {"train", "val"} == {s for v in by_patient.values() for s in v}
    again = tmp_path / "again.csv"
    runner.invoke(app, ["data", "split", "--manifest", str(m), "--out", str(again), "--val", "0.3"])
    assert again.read_text() == out.read_text()
    folds = tmp_path / "folds.csv"
    result = runner.invoke(app, ["data", "split", "--manifest", str(m), "--out", str(folds), "--kfold", "5"])
    assert result.exit_code == 0, result.output
    assert {r["fold"] for r in csv.DictReader(folds.open())} == {"0", "1", "2", "3", "4"}
