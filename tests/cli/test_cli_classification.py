"""``medscreen train|export|evaluate`` for the classifiers, end to end on a tiny manifest, and their errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import lightning  # noqa: F401  imported here so its log handler binds to the real stderr, not a CliRunner's
import pytest

from tests_support import invoke_cli, make_class_records



_invoke = invoke_cli


def _manifest(root: Path, labels=("normal", "glaucoma"), n_patients: int = 8) -> Path:
    records = make_class_records(root, n_patients=n_patients, per_patient=2, size=32, labels=labels)
    m = root / "m.csv"
    m.write_text("image,label,patient_id\n" + "".join(f"{r.image.name},{r.label},{r.patient_id}\n" for r in records))
    return m


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    manifest = _manifest(root)
    run = root / "run"
    result = _invoke(["train", "glaucoma", "--manifest", str(manifest), "--out", str(run),
                                 "--epochs", "1", "--input-size", "32", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    return root, manifest, run


@pytest.mark.slow
def test_train_glaucoma_writes_a_run(trained):
    _, _, run = trained
    summary = json.loads((run / "summary.json").read_text())
    assert summary["task"] == "glaucoma" and summary["n_train"] + summary["n_val"] == 16
    assert json.loads((run / "config.json").read_text())["input_size"] == 32
    assert (run / "checkpoints" / "best.ckpt").is_file()


@pytest.mark.slow
def test_export_then_evaluate_with_onnx_and_checkpoint_agree(trained):
    root, manifest, run = trained
    onnx = root / "model" / "X.onnx"
    source = root / "card.json"
    source.write_text(json.dumps({"training_data": [{"name": "crops", "licence": "CC0", "citation": "this test"}]}))
    result = _invoke(["export", "classifier", str(run / "checkpoints" / "best.ckpt"), "--out", str(onnx),
                      "--card", str(source)])
    assert result.exit_code == 0, result.output
    for suffix in (".onnx", ".json", ".md"):
        assert onnx.with_suffix(suffix).is_file(), suffix
    card = json.loads(onnx.with_suffix(".json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    assert card["task"] == "glaucoma" and card["input_size"] == 32 and card["in_channels"] == 3
    assert card["threshold"] == pytest.approx(summary["threshold"], abs=1e-5)
    assert card["params"]["labels"] == ["normal", "glaucoma"] and card["params"]["inputs"] == "image"
    assert card["onnx_parity_max_abs_diff"] <= 1e-4 and len(card["sha256"]) == 64

    out_json, out_dir = root / "out.json", root / "eval"
    result = _invoke(["evaluate", "glaucoma", "--manifest", str(manifest), "--crops", "--model", str(onnx),
                                 "--json", str(out_json), "--out", str(out_dir)])
    assert result.exit_code == 0, result.output
    report = json.loads(out_json.read_text())
    assert report["n"] == 16 and 0.0 <= report["auc"] <= 1.0
    assert sum(map(sum, report["confusion_matrix"])) == 16
    assert (out_dir / "per_case.csv").is_file() and (out_dir / "roc.png").is_file()
    assert (out_dir / "training_curves.png").exists() is False  # only copied for a .ckpt
    # evaluated on its own run's images: every one is seen, and the report says so
    split_counts = {"train": summary["n_train"], "val": summary["n_val"], "unseen": 0}
    assert report["seen"]["counts"] == split_counts and report["warning"].startswith(f"{summary['n_train']} of 16")

    ckpt_json = root / "ckpt.json"
    result = _invoke(["evaluate", "glaucoma", "--manifest", str(manifest), "--crops",
                                 "--model", str(run / "checkpoints" / "best.ckpt"), "--json", str(ckpt_json),
                                 "--out", str(root / "eval_ckpt")])
    assert result.exit_code == 0, result.output
    from_ckpt = json.loads(ckpt_json.read_text())
    assert from_ckpt["seen"]["counts"] == split_counts  # a checkpoint's run folder has its split.csv
    assert from_ckpt["n"] == 16 and from_ckpt["auc"] == pytest.approx(report["auc"], abs=1e-6)
    assert from_ckpt["threshold"] == pytest.approx(report["threshold"], abs=1e-6)
    assert report["threshold"] == pytest.approx(summary["threshold"], abs=1e-5)
    onnx_p, ckpt_p = (_per_case(d / "per_case.csv") for d in (out_dir, root / "eval_ckpt"))
    assert onnx_p.keys() == ckpt_p.keys() and len(onnx_p) == 16
    assert max(abs(onnx_p[k] - ckpt_p[k]) for k in onnx_p) < 1e-5
    assert (root / "eval_ckpt" / "training_curves.png").is_file()

    wrong = _invoke(["evaluate", "progression", "--manifest", str(manifest), "--model", str(onnx),
                                "--json", str(root / "wrong.json")])
    assert wrong.exit_code == 2 and "Traceback" not in wrong.output


def _per_case(path: Path) -> dict[str, float]:
    with path.open() as f:
        return {Path(r["image"]).name: float(r["p_glaucoma"]) for r in csv.DictReader(f)}


@pytest.mark.slow
def test_the_operating_threshold_is_not_on_a_validation_score(trained):
    _, _, run = trained
    threshold = json.loads((run / "summary.json").read_text())["threshold"]
    with (run / "val_predictions.csv").open() as f:
        scores = [float(r["p_glaucoma"]) for r in csv.DictReader(f)]
    assert min(abs(p - threshold) for p in scores) > 1e-6


def test_a_bad_option_value_is_one_line_naming_the_option(tmp_path):
    manifest = _manifest(tmp_path)
    result = _invoke(["train", "progression", "--manifest", str(manifest), "--out", str(tmp_path / "run"),
                                 "--inputs", "foo"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "--inputs" in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_settings_that_do_not_fit_the_task_name_the_option_or_say_what_to_drop(tmp_path):
    manifest = _manifest(tmp_path)
    base = ["train", "glaucoma", "--manifest", str(manifest), "--out", str(tmp_path / "run")]
    result = _invoke([*base, "--augment", "ultrasound"])
    assert result.exit_code == 2 and "--augment:" in result.output and "fundus-crop-dg" in result.output
    result = _invoke([*base, "--use-mask"])  # a rule between settings: no option prefix, the message says what to do
    assert result.exit_code == 2 and "drop --use-mask" in result.output and "--:" not in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_an_out_of_range_value_names_the_option_as_typed(tmp_path):
    manifest = _manifest(tmp_path)
    result = _invoke(["train", "glaucoma", "--manifest", str(manifest), "--out", str(tmp_path / "run"), "--val", "1.5"])
    assert result.exit_code == 2
    assert "--val:" in result.output and "--val-fraction" not in result.output


def test_labels_of_another_task_are_refused_naming_the_expected_ones(tmp_path):
    manifest = _manifest(tmp_path, labels=("benign", "malignant"))
    result = _invoke(["train", "glaucoma", "--manifest", str(manifest), "--out", str(tmp_path / "run"),
                                 "--epochs", "1", "--input-size", "32"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "normal" in result.output and "glaucoma" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # trains a model per fold
def test_cv_command_and_the_deprecated_evaluate_cv_give_the_same_report(tmp_path):
    manifest = _manifest(tmp_path, n_patients=12)  # each fold's training part holds the 5 patients a split needs
    settings = ["--epochs", "1", "--input-size", "32", "--select", "last", "--seed", "3"]
    result = _invoke(["cv", "glaucoma", "--manifest", str(manifest), "--folds", "2", "--out", str(tmp_path / "cv"),
                      *settings])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "cv" / "cv_report.json").read_text())
    assert report["n"] == 24 and report["cv"]["k"] == 2 and report["config"]["epochs"] == 1
    assert report["cv"]["wall_time_s"] > 0
    for name in ("oof_predictions.csv", "roc.png", "confusion.png", "calibration.png", "fold2/summary.json"):
        assert (tmp_path / "cv" / name).is_file(), name

    old = tmp_path / "old.json"
    result = _invoke(["evaluate", "glaucoma", "--manifest", str(manifest), "--crops", "--cv", "2", "--json", str(old),
                      *settings])
    assert result.exit_code == 0, result.output
    assert "deprecated" in result.output
    aliased = json.loads(old.read_text())
    assert {"n", "auc", "sensitivity", "specificity", "confusion_matrix"} <= set(aliased)
    assert aliased["config"] == report["config"] and aliased["cv"]["folds"] == report["cv"]["folds"]
    assert (tmp_path / "old" / "fold1" / "checkpoints" / "best.ckpt").is_file()  # folds beside the --json


def test_export_float16_halves_a_bundled_model_and_records_it_in_the_card(tmp_path):
    import shutil

    from medscreen.inference.card import load_card
    from medscreen.inference.runtime import OnnxModel, bundled_model_path

    full = [path for path in map(bundled_model_path, ("glaucoma", "disc", "progression", "lesion", "breast-class"))
            if load_card(path.with_suffix(".json")).weights_dtype == "float32"]
    if not full:
        pytest.skip("every bundled model stores float16 weights already")
    source = full[0]
    for suffix in (".onnx", ".json", ".md"):
        shutil.copy(source.with_suffix(suffix), tmp_path / f"m{suffix}")
    model = tmp_path / "m.onnx"
    size, before = model.stat().st_size, load_card(tmp_path / "m.json")
    assert before.weights_dtype == "float32"
    result = _invoke(["export", "float16", str(model)])
    assert result.exit_code == 0, result.output
    card = load_card(tmp_path / "m.json")  # the card is valid, names the new file and keeps its figures
    assert card.weights_dtype == "float16" and 0 < card.float16_max_abs_diff < 0.05
    assert card.metrics == before.metrics and card.sha256 != before.sha256
    assert model.stat().st_size < 0.6 * size
    assert OnnxModel(model).sha256 == card.sha256
    assert "Weights stored in float16" in (tmp_path / "m.md").read_text()
    again = _invoke(["export", "float16", str(model)])
    assert again.exit_code != 0 and "float16 already" in again.output
    missing = _invoke(["export", "float16", str(tmp_path / "other.onnx")])
    assert missing.exit_code != 0 and "no card other.json" in missing.output and "Traceback" not in missing.output
    shutil.copy(tmp_path / "m.json", tmp_path / "gone.json")  # a card without its model
    gone = _invoke(["export", "float16", str(tmp_path / "gone.onnx")])
    assert gone.exit_code != 0 and "gone.onnx not found" in gone.output and "Traceback" not in gone.output
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    shutil.copy(tmp_path / "m.json", tmp_path / "bad.json")
    bad = _invoke(["export", "float16", str(tmp_path / "bad.onnx")])
    assert bad.exit_code != 0 and "not a loadable ONNX model" in bad.output and "re-export it" in bad.output
    assert (tmp_path / "bad.onnx").read_bytes() == b"not a model"
