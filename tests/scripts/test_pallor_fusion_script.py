"""``scripts/pallor_fusion.py`` fits a glaucoma card's pallor fusion on the validation rows of a split."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from medscreen.inference.card import load_card, write_card
from medscreen.inference.export import export_classifier_onnx

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pallor_fusion.py"
SIZE = 32


class _Tiny(torch.nn.Module):
    """Image → one logit, called as the exporter calls a classifier (image, clinical)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                       torch.nn.Flatten(), torch.nn.Linear(4, 1))

    def forward(self, image: torch.Tensor, clinical: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(image)


def _model(folder: Path, task: str = "glaucoma") -> Path:
    """A tiny image network (the script only needs its logits) exported with a glaucoma card."""
    torch.manual_seed(0)
    net = _Tiny().eval()
    path = export_classifier_onnx(net, folder / "g.onnx", image=True, clinical=None, in_channels=3, input_size=SIZE)
    write_card({"task": task, "input_size": SIZE, "in_channels": 3, "threshold": 0.5,
                "params": {"labels": ["normal", "glaucoma"], "inputs": "image", "preprocess": "standardise"}}, path)
    return path.with_suffix(".json")


def _split(folder: Path, n: int = 40) -> Path:
    """Disc crops whose disc is paler in the glaucoma ones; every other row is validation."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        glaucoma = i % 4 < 2
        image = rng.integers(60, 110, (48, 48, 3)).astype(np.uint8)
        yy, xx = np.ogrid[:48, :48]
        image[np.hypot(yy - 23.5, xx - 23.5) < 9, 1] = 190 if glaucoma else 130
        Image.fromarray(image).save(folder / f"c{i}.png")
        rows.append([f"c{i}.png", "glaucoma" if glaucoma else "normal", "val" if i % 2 else "train"])
    path = folder / "split.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([["image", "label", "split"], *rows])
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def test_the_fusion_is_fitted_on_the_validation_rows_and_written_to_the_card(tmp_path: Path) -> None:
    card, split, out = _model(tmp_path), _split(tmp_path), tmp_path / "val-fused.csv"
    done = _run("--card", str(card), "--manifest", str(split), "--weight", "0.5", "--out", str(out))
    assert done.returncode == 0, done.stderr
    fusion = load_card(card).params.pallor_fusion
    assert fusion is not None and fusion.weight == 0.5 and fusion.pallor_weight > 0 and fusion.scale == "log"
    assert fusion.radius == round(1 / (2 * 2.2), 6)  # the disc's own circle at the default crop_k
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 20 and {"label", "p_glaucoma", "p_network", "pallor"} <= set(rows[0])
    pale = [float(r["pallor"]) for r in rows if r["label"] == "glaucoma"]
    dull = [float(r["pallor"]) for r in rows if r["label"] == "normal"]
    assert min(pale) > max(dull)
    assert "pallor_fusion" in json.loads(card.read_text())["params"] and card.with_suffix(".md").is_file()


def test_another_tasks_card_or_no_validation_rows_is_a_clear_error(tmp_path: Path) -> None:
    split = _split(tmp_path)
    card = _model(tmp_path, task="progression")
    done = _run("--card", str(card), "--manifest", str(split), "--out", str(tmp_path / "o.csv"))
    assert done.returncode != 0 and "for the glaucoma model" in done.stderr and "Traceback" not in done.stderr
    card = _model(tmp_path)
    done = _run("--card", str(card), "--manifest", str(split), "--split", "test", "--out", str(tmp_path / "o.csv"))
    assert done.returncode != 0 and "no rows with split == 'test'" in done.stderr and "Traceback" not in done.stderr
    assert load_card(card).params.pallor_fusion is None
