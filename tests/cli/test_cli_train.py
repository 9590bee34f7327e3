"""``medscreen train`` refuses bad data with one clear line, before any training."""

from __future__ import annotations

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from medscreen.cli.main import app

runner = CliRunner()


def _png(path, shape, value=0):
    Image.fromarray(np.full(shape, value, np.uint8)).save(path)


def _invoke(tmp_path, manifest_text: str):
    m = tmp_path / "m.csv"
    m.write_text(manifest_text)
    return runner.invoke(app, ["train", "lesion", "--manifest", str(m), "--out", str(tmp_path / "run"), "--epochs", "1", "--val", "0.5"])


def test_empty_manifest(tmp_path):
    result = _invoke(tmp_path, "image,mask,label,patient_id\n")
    assert result.exit_code == 2 and "has no rows" in result.output and "Traceback" not in result.output


def test_mask_size_mismatch_names_the_files(tmp_path):
    for i in range(3):
        _png(tmp_path / f"a{i}.png", (32, 32))
        _png(tmp_path / f"a{i}_mask.png", (16, 16) if i == 1 else (32, 32))
    rows = "".join(f"a{i}.png,a{i}_mask.png,benign,p{i}\n" for i in range(3))
    result = _invoke(tmp_path, "image,mask,label,patient_id\n" + rows)
    assert result.exit_code == 2
    assert "a1_mask.png" in result.output and "16×16" in result.output


def test_non_binary_mask_names_the_file(tmp_path):
    for i in range(3):
        _png(tmp_path / f"a{i}.png", (32, 32))
        mask = np.zeros((32, 32), np.uint8)
        mask[8:24, 8:24] = 255
        if i == 2:
            mask = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1))
        Image.fromarray(mask).save(tmp_path / f"a{i}_mask.png")
    rows = "".join(f"a{i}.png,a{i}_mask.png,benign,p{i}\n" for i in range(3))
    result = _invoke(tmp_path, "image,mask,label,patient_id\n" + rows)
    assert result.exit_code == 2
    assert "a2_mask.png" in result.output and "distinct values" in result.output


def test_neither_data_nor_manifest(tmp_path):
    result = runner.invoke(app, ["train", "disc", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "--data" in result.output
