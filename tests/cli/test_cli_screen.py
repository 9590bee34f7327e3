"""``medscreen screen``: one image, a batch with a corrupt file, JSON output, reports, exit statuses."""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

import pytest
from PIL import Image

from medscreen.pipelines.schema import ScreeningResult
from tests_support import invoke_cli, fundus_like, make_screening_models, ultrasound_like

WEIGHTS = Path(str(resources.files("medscreen") / "weights"))


_invoke = invoke_cli


@pytest.fixture(scope="module")
def model_args(tmp_path_factory) -> list[str]:
    paths = make_screening_models(tmp_path_factory.mktemp("models"))
    return [arg for task, path in paths.items() for arg in ("--model", f"{task}={path}")]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """a_eye.png (fundus), b_broken.png (truncated), c_scan.png (ultrasound), d_notes.txt (not an image)."""
    folder = tmp_path_factory.mktemp("images")
    Image.fromarray(fundus_like()).save(folder / "a_eye.png")
    Image.fromarray(ultrasound_like()[..., 0]).save(folder / "c_scan.png")
    (folder / "b_broken.png").write_bytes((folder / "a_eye.png").read_bytes()[:2000])
    (folder / "d_notes.txt").write_text("not an image")
    return folder


def test_batch_with_a_corrupt_file_in_the_middle_goes_on(model_args, images, tmp_path):
    out = tmp_path / "out"
    result = _invoke(["screen", str(images), "--out", str(out), *model_args])
    assert result.exit_code == 0, result.output
    assert "b_broken.png" in result.output and "skipped" in result.output and "Traceback" not in result.output
    assert "screened 2 of 3 image(s) (1 failed)" in result.output and "not a diagnosis" in result.output
    assert "REFER" in result.output
    with (out / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [Path(r["file"]).name for r in rows] == ["a_eye.png", "b_broken.png", "c_scan.png"]
    assert [r["status"] for r in rows] == ["screened", "error", "screened"]
    assert rows[0]["modality"] == "fundus" and float(rows[0]["glaucoma_probability"]) == pytest.approx(0.5)
    assert rows[2]["breast_label"] == "malignant" and "truncated" in rows[1]["error"]
    for stem in ("a_eye", "c_scan"):
        assert (out / f"{stem}_report.pdf").read_bytes().startswith(b"%PDF")
        with Image.open(out / f"{stem}_overlay.png") as im:
            assert im.mode == "RGB" and max(im.size) <= 1024
    assert not (out / "b_broken_report.pdf").exists()


def test_json_prints_one_result_per_line(model_args, images):
    result = _invoke(["screen", str(images / "a_eye.png"), str(images / "c_scan.png"), "--json", *model_args])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    parsed = [ScreeningResult.model_validate_json(line) for line in lines]
    assert [r.source for r in parsed] == ["a_eye.png", "c_scan.png"]
    assert json.loads(lines[0])["glaucoma"]["probability"] == pytest.approx(0.5)
    assert parsed[1].breast_class.label == "malignant"


def test_glob_and_modality_option(model_args, images):
    result = _invoke(["screen", str(images / "*_eye.png"), "--modality", "ultrasound", "--json", *model_args])
    assert result.exit_code == 0, result.output
    r = ScreeningResult.model_validate_json(result.stdout.splitlines()[0])
    assert r.source == "a_eye.png" and r.advice == "rescreen" and r.lesion is None


def test_every_file_failing_exits_1_and_nothing_to_screen_exits_2(model_args, images, tmp_path):
    result = _invoke(["screen", str(images / "b_broken.png"), str(images / "d_notes.txt"), *model_args])
    assert result.exit_code == 1, result.output
    assert "b_broken.png" in result.output and "d_notes.txt" in result.output
    result = _invoke(["screen", *model_args])
    assert result.exit_code == 2 and "nothing to screen" in result.output
    result = _invoke(["screen", str(images), "--modality", "xray", *model_args])
    assert result.exit_code == 2 and "--modality" in result.output


def test_torch_backend_without_weights_is_one_line(model_args, images):
    pytest.importorskip("torch")
    result = _invoke(["screen", str(images / "a_eye.png"), "--backend", "torch", *model_args])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "disc.pt not found" in result.output and "export torch-weights" in result.output


def test_sample_runs_offline_with_the_bundled_models(tmp_path):
    missing = [t for t in ("disc", "glaucoma", "progression") if not (WEIGHTS / f"{t}.onnx").is_file()]
    if missing:
        pytest.skip(f"bundled models absent: {', '.join(missing)}")
    result = _invoke(["screen", "--sample", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "skimage-retina.png" in result.output and "Optic disc" in result.output
    assert (tmp_path / "skimage-retina_report.pdf").is_file() and (tmp_path / "summary.csv").is_file()
