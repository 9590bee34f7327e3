"""``scripts/operating_point.py`` writes a review band or a malignancy threshold into a card."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "operating_point.py"


def _predictions(path: Path, n: int = 200) -> None:
    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", "p_benign", "p_malignant"])
        for i in range(n):
            malignant = i % 3 == 0
            p = float(np.clip(rng.normal(0.6 if malignant else 0.3, 0.15), 0, 1))
            writer.writerow(["malignant" if malignant else "benign", 1 - p, p])


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def test_malignancy_threshold_and_review_band_go_into_the_card(tmp_path: Path) -> None:
    preds, card = tmp_path / "per_case.csv", tmp_path / "breast-class.json"
    _predictions(preds)
    card.write_text(json.dumps({"task": "breast-class", "input_size": 160, "in_channels": 2, "threshold": 0.5,
                                "params": {"use_mask": True}}))
    done = _run(str(preds), "--card", str(card), "--positive", "malignant", "--write", "malignancy_threshold")
    assert done.returncode == 0, done.stderr
    written = json.loads(card.read_text())
    t = written["params"]["malignancy_threshold"]
    point = next(iter(written["operating_points"].values()))
    assert written["params"]["use_mask"] is True and point["threshold"] == t and point["sensitivity"] >= 0.9
    assert point["sensitivity_ci95"][0] < point["sensitivity"] < point["sensitivity_ci95"][1]
    assert card.with_suffix(".md").is_file()
    done = _run(str(preds), "--card", str(card), "--positive", "malignant", "--write", "review_band", "--n-boot", "200")
    low, high = json.loads(card.read_text())["params"]["review_band"]
    assert done.returncode == 0 and low < t < high


def test_a_binary_models_threshold_is_rewritten_by_the_runs_rule(tmp_path: Path) -> None:
    preds, card = tmp_path / "per_case.csv", tmp_path / "glaucoma.json"
    _predictions(preds)
    card.write_text(json.dumps({"task": "glaucoma", "input_size": 160, "in_channels": 3, "threshold": 0.5,
                                "params": {"labels": ["benign", "malignant"], "tta": "flip"}}))
    done = _run(str(preds), "--card", str(card), "--positive", "malignant", "--write", "threshold")
    assert done.returncode == 0, done.stderr
    written = json.loads(card.read_text())
    point = next(iter(written["operating_points"].values()))
    assert written["threshold"] == point["threshold"] != 0.5 and point["sensitivity"] >= 0.9
    assert written["threshold_rule"] == "highest with validation sensitivity ≥ 0.9 (test-time flip average)"
    done = _run(str(preds), "--card", str(card), "--positive", "benign", "--write", "threshold")
    assert done.returncode != 0 and "binary model whose positive class is 'benign'" in done.stderr


def test_a_missing_class_column_is_a_clear_error(tmp_path: Path) -> None:
    preds, card = tmp_path / "p.csv", tmp_path / "c.json"
    _predictions(preds)
    card.write_text("{}")
    done = _run(str(preds), "--card", str(card), "--positive", "normal", "--write", "review_band")
    assert done.returncode != 0 and "needs a label and a p_normal column" in done.stderr and "Traceback" not in done.stderr


def test_one_class_or_no_label_is_a_clear_error(tmp_path: Path) -> None:
    preds, card = tmp_path / "p.csv", tmp_path / "c.json"
    card.write_text("{}")
    preds.write_text("label,p_malignant\nmalignant,0.9\nmalignant,0.7\n")
    done = _run(str(preds), "--card", str(card), "--positive", "malignant", "--write", "malignancy_threshold")
    assert done.returncode != 0 and "needs both malignant and other cases" in done.stderr
    preds.write_text("p_malignant\n0.9\n")
    done = _run(str(preds), "--card", str(card), "--positive", "malignant", "--write", "review_band")
    assert "needs a label and a p_malignant column" in done.stderr and "Traceback" not in done.stderr
