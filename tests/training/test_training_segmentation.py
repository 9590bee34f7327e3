"""Training on generated fixtures: the loss falls, the run folder is complete, resume works."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from medscreen.datasets.records import Record
from tests_support import make_blob_records
from medscreen.errors import ConfigError, ModelError
from medscreen.training.config import SegmentationConfig
from medscreen.training.data import DiscFramer, SegmentationDataset, load_cached
from medscreen.training.segmentation import SegmentationModule, train_segmentation


@pytest.mark.slow
def test_a_few_steps_lower_the_loss(tmp_path):
    records = make_blob_records(tmp_path)
    torch.manual_seed(0)
    items = load_cached(records, "lesion", 64)
    ds = SegmentationDataset(items, 64)
    batch = {k: torch.stack([ds[i][k] for i in range(len(ds))]) for k in ("image", "label")}
    module = SegmentationModule(SegmentationConfig(task="lesion", input_size=64).model_dump())
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    module.train()
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = module.loss(module(batch["image"]), batch["label"])
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.8 * losses[0]


def test_disc_framer_gives_crops_and_full_views(tmp_path):
    records = make_blob_records(tmp_path, n=2, rgb=True)
    item = load_cached(records, "disc", 64)[0]
    rng = np.random.default_rng(0)
    shapes = {DiscFramer(p_full=0.5)(item, rng)[0].shape[:2] for _ in range(20)}
    assert (64, 64) in shapes and len(shapes) > 2


@pytest.mark.slow
def test_train_writes_a_complete_resumable_run(tmp_path):
    records = make_blob_records(tmp_path, n=6)
    cfg = SegmentationConfig(task="lesion", input_size=64, epochs=2, batch_size=4, val_fraction=0.34)
    run = train_segmentation(records, cfg, tmp_path / "run", progress=False)
    for name in ("config.json", "split.csv", "metrics.csv", "curves.png", "summary.json",
                 "checkpoints/best.ckpt", "checkpoints/latest.ckpt"):
        assert (run / name).exists(), name
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert all(0.0 <= float(r["train_iou"]) <= 1.0 for r in rows)
    split = list(csv.DictReader((run / "split.csv").open()))
    train_p = {r["patient_id"] for r in split if r["split"] == "train"}
    val_p = {r["patient_id"] for r in split if r["split"] == "val"}
    assert train_p and val_p and not train_p & val_p
    assert json.loads((run / "config.json").read_text())["task"] == "lesion"
    with pytest.raises(ConfigError, match="not empty"):
        train_segmentation(records, cfg, run, progress=False)
    cfg3 = cfg.model_copy(update={"epochs": 3})
    train_segmentation(records, cfg3, run, resume=True, progress=False)
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["wall_time_s"] > 0 and 0.0 <= summary["best_val_iou"] <= 1.0

    # a fine-tuning start of another network is refused before the new run folder is written
    other = cfg.model_copy(update={"norm": "instance", "init_from": str(run / "checkpoints" / "best.ckpt")})
    with pytest.raises(ConfigError, match="lesion/compact/batch checkpoint cannot start a lesion/compact/instance"):
        train_segmentation(records, other, tmp_path / "tuned", progress=False)
    with pytest.raises(ConfigError, match="unknown architecture 'compakt'"):
        train_segmentation(records, cfg.model_copy(update={"arch": "compakt"}), tmp_path / "tuned", progress=False)
    assert not (tmp_path / "tuned").exists()


def test_training_without_masks_is_a_clear_error(tmp_path):
    rec = [Record(tmp_path / "a.png", (), "benign", "p1")]
    with pytest.raises(ConfigError, match="masks"):
        train_segmentation(rec, SegmentationConfig(task="lesion"), tmp_path / "run", progress=False)


@pytest.mark.slow
def test_disc_run_validates_with_the_coarse_to_fine_pipeline(tmp_path):
    records = make_blob_records(tmp_path, n=6, rgb=True)
    cfg = SegmentationConfig(task="disc", input_size=64, cache_side=64, epochs=1, batch_size=4, val_fraction=0.34)
    run = train_segmentation(records, cfg, tmp_path / "run", progress=False)
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert 0.0 <= float(rows[0]["val_iou"]) <= 1.0
    assert (run / "checkpoints" / "latest.ckpt").exists()


@pytest.mark.slow
def test_a_bundled_model_is_a_starting_point_for_fine_tuning(tmp_path):
    from medscreen.inference.runtime import bundled_model_path
    from medscreen.models.weights import read_weights
    from medscreen.training.segmentation import load_module

    onnx = bundled_model_path("lesion")
    _, shipped = read_weights(onnx.with_suffix(".pt"), hint="")
    records = make_blob_records(tmp_path, n=6)
    cfg = SegmentationConfig(task="lesion", input_size=64, epochs=1, batch_size=4, val_fraction=0.34, lr=1e-9,
                             init_from=str(onnx))
    run = train_segmentation(records, cfg, tmp_path / "tuned", progress=False)
    tuned = load_module(run / "checkpoints" / "best.ckpt").net.state_dict()
    convs = [k for k in shipped if k.endswith("conv.weight")]
    assert convs and all(torch.allclose(tuned[k], shipped[k], atol=1e-5) for k in convs)  # started there, barely moved
    fresh = SegmentationModule(cfg.model_dump()).net.state_dict()
    assert not torch.allclose(fresh[convs[0]], shipped[convs[0]], atol=1e-3)  # what a start from scratch would be


def test_a_bundled_model_that_cannot_start_the_run_is_refused_before_the_run_folder(tmp_path):
    from medscreen.inference.runtime import bundled_model_path

    records = make_blob_records(tmp_path, n=4)
    lesion = SegmentationConfig(task="lesion", input_size=64)

    def refused(source, error, match, **settings):
        cfg = lesion.model_copy(update={"init_from": str(source), **settings})
        with pytest.raises(error, match=match):
            train_segmentation(records, cfg, tmp_path / "tuned", progress=False)
        assert not (tmp_path / "tuned").exists()

    onnx = bundled_model_path("lesion")
    refused(bundled_model_path("disc").with_suffix(".pt"), ConfigError, "a disc model cannot start a lesion run")
    refused(onnx, ConfigError, r"not a compact/instance network \(Error\(s\) in loading.*--norm", norm="instance")
    lone = tmp_path / "lesion.onnx"
    lone.write_bytes(onnx.read_bytes())
    refused(lone, ModelError, r"lesion\.pt not found; give a bundled model's \.onnx with its \.pt beside it")
    (tmp_path / "lesion.pt").write_bytes(b"not weights")
    refused(lone, ModelError, r"lesion\.pt: not readable PyTorch weights")
