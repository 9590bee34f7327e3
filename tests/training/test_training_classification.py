"""Classifier training on generated fixtures: the loss falls, the run folder is complete,
splits and cross-validation folds never share a patient, task relabelling, checkpoint errors."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from medscreen.datasets.records import Record
from medscreen.errors import ConfigError, ModelError
from medscreen.training.classification import (
    ClassDataset,
    ClassifierModule,
    load_classifier_module,
    load_items,
    predict_items,
    run_threshold,
    task_records,
    train_classifier,
)
from medscreen.training.config import ClassificationConfig
from medscreen.training.cv import cross_validate
from medscreen.training.logs import plot_curves
from medscreen.training.run import checkpoint_hyperparameters, set_checkpoint_hyperparameters
from tests_support import make_class_records


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_load_items_and_dataset_give_normalised_tensors(tmp_path):
    records = make_class_records(tmp_path, n_patients=2, per_patient=2, size=40)
    cfg = ClassificationConfig(task="glaucoma", input_size=32, preprocess="standardise")
    items = load_items(records, cfg)
    assert [i.label for i in items] == [0, 0, 1, 1]  # normal, normal, glaucoma, glaucoma
    assert items[0].image.shape == (32, 32, 3) and items[0].image.dtype == np.uint8 and items[0].clinical is None
    assert [i.key for i in items] == ["p0_0", "p0_1", "p1_0", "p1_1"]
    sample = ClassDataset(items, cfg)[2]
    assert sample["image"].shape == (3, 32, 32) and int(sample["label"]) == 1 and "clinical" not in sample
    assert torch.allclose(sample["image"].mean(dim=(1, 2)), torch.zeros(3), atol=1e-4)


def test_the_augment_preset_is_the_tasks_own_or_a_named_one_for_the_same_images(tmp_path):
    from medscreen.training.classification import _loader

    records = make_class_records(tmp_path, n_patients=2, per_patient=2, size=40)
    own = ClassificationConfig(task="glaucoma", input_size=32)
    dg = ClassificationConfig(task="glaucoma", input_size=32, augment="fundus-crop-dg")
    names = lambda cfg: [type(t).__name__ for t in _loader(load_items(records, cfg), cfg, train=True)  # noqa: E731
                         .dataset.augment.transforms]
    assert "RandConvd" not in names(own) and {"RandConvd", "RandDesaturated", "RandSimulateLowResolutiond"} <= set(
        names(dg))
    assert _loader(load_items(records, dg), dg, train=False).dataset.augment is None  # validation: never augmented
    with pytest.raises(ValueError, match="'ultrasound' augments ultrasound images and glaucoma reads fundus images; "
                       "use task or one of fundus-crop, fundus-crop-dg"):
        ClassificationConfig(task="glaucoma", augment="ultrasound")
    with pytest.raises(ValueError, match="'fundus-crop-dg' augments fundus images and breast-class reads ultrasound"):
        ClassificationConfig(task="breast-class", augment="fundus-crop-dg")
    from typing import get_args

    from medscreen.training.config import AUGMENT_MODALITY
    from medscreen.transforms.presets import CLASSIFICATION_AUGMENT

    choices = set(get_args(ClassificationConfig.model_fields["augment"].annotation))
    assert set(AUGMENT_MODALITY) == set(CLASSIFICATION_AUGMENT) == choices - {"task"}  # one list of presets


def test_load_items_breast_class_grey_images(tmp_path):
    from PIL import Image

    records = []
    for i, label in enumerate(("normal", "benign", "malignant")):
        Image.fromarray(np.full((40, 50), 50 * (i + 1), np.uint8)).save(tmp_path / f"u{i}.png")
        records.append(Record(tmp_path / f"u{i}.png", (), label, f"p{i}", "busi", f"u{i}"))
    items = load_items(records, ClassificationConfig(task="breast-class", input_size=32))
    assert [i.label for i in items] == [0, 1, 2]
    assert items[0].image.shape == (32, 32, 1) and items[2].image[5, 5, 0] == 150


@pytest.mark.slow
def test_a_few_steps_lower_the_loss_on_bright_vs_dark(tmp_path):
    records = make_class_records(tmp_path, n_patients=8, per_patient=1, size=32)
    cfg = ClassificationConfig(task="glaucoma", input_size=32, preprocess="none", lr=1e-2)
    items = load_items(records, cfg)
    ds = ClassDataset(items, cfg)
    batch = {k: torch.stack([ds[i][k] for i in range(len(ds))]) for k in ("image", "label")}
    torch.manual_seed(0)
    module = ClassifierModule(cfg.model_dump(), [4.0, 4.0])
    assert isinstance(module.loss, torch.nn.BCEWithLogitsLoss) and float(module.loss.pos_weight) == 1.0
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    module.train()
    losses = []
    for _ in range(12):
        opt.zero_grad()
        _, loss = module._step(batch)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]


def _progression_records(n_subjects: int = 12, later_visits: bool = True) -> list[Record]:
    """Two eyes per subject; IOP alone separates progressing from stable (the other features are constant or
    missing, so a few Adam steps cannot pick up chance correlations); visit-2 duplicates are to be ignored."""
    rng = np.random.default_rng(0)
    records = []
    for s in range(1, n_subjects + 1):
        label = "progressing" if s % 2 else "stable"
        for eye in ("OD", "OS"):
            for visit in (1, 2) if later_visits else (1,):
                iop = (26.0 if label == "progressing" else 14.0) + rng.normal(0, 1.0)
                fields = {"subject": s, "eye": eye, "visit": visit, "age": 60, "iop": iop, "gender": "F", "cct": None}
                key = f"{s}_{eye}_{visit}"
                records.append(Record(Path(f"/nonexistent/{key}.jpg"), (), label, str(s), "grape", key, fields))
    return records


def test_clinical_only_steps_lower_the_loss():
    records = task_records(_progression_records(8), "progression")
    cfg = ClassificationConfig(task="progression", inputs="clinical", lr=0.1)
    items = load_items(records, cfg)
    assert all(i.image is None and i.clinical.shape == (13,) for i in items)
    clin = np.stack([i.clinical for i in items])
    module = ClassifierModule(cfg.model_dump(), [8.0, 8.0], np.nanmean(clin, 0).tolist(),
                              np.nan_to_num(np.nanstd(clin, 0), nan=1.0).tolist())
    ds = ClassDataset(items, cfg)
    batch = {k: torch.stack([ds[i][k] for i in range(len(ds))]) for k in ("clinical", "label")}
    opt = torch.optim.Adam(module.parameters(), lr=0.1)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        _, loss = module._step(batch)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[0] == pytest.approx(math.log(2), abs=1e-4)  # zero-initialised logistic regression
    assert losses[-1] < 0.2
    prob = predict_items(module, items)
    truth = np.array([i.label for i in items])
    assert prob.shape == (len(items),) and ((prob > 0.5) == (truth == 1)).all()


def test_loss_choice_and_class_weights():
    base = ClassificationConfig(task="glaucoma").model_dump()
    weighted = ClassifierModule(base, [30.0, 10.0])
    assert float(weighted.loss.pos_weight) == pytest.approx(3.0)
    assert ClassifierModule({**base, "balance": "none"}, [30.0, 10.0]).loss.pos_weight is None
    with pytest.raises(ConfigError, match="binary"):
        ClassifierModule({**base, "loss": "ce"}, [1.0, 1.0])
    breast = ClassificationConfig(task="breast-class").model_dump()
    ce = ClassifierModule(breast, [10.0, 20.0, 40.0])
    assert isinstance(ce.loss, torch.nn.CrossEntropyLoss)
    assert ce.loss.weight.tolist() == pytest.approx([70 / 30, 70 / 60, 70 / 120])
    with pytest.raises(ConfigError, match="'ce'"):
        ClassifierModule({**breast, "loss": "bce"}, [1.0, 1.0, 1.0])


@pytest.mark.slow
def test_train_classifier_writes_a_complete_run_split_by_patient(tmp_path):
    records = make_class_records(tmp_path, n_patients=8, per_patient=2, size=32)
    cfg = ClassificationConfig(task="glaucoma", input_size=32, epochs=2, batch_size=4, val_fraction=0.34,
                               accelerator="cpu")
    run = train_classifier(records, cfg, tmp_path / "run", progress=False)
    for name in ("config.json", "split.csv", "metrics.csv", "curves.png", "val_predictions.csv", "summary.json",
                 "checkpoints/best.ckpt", "checkpoints/latest.ckpt"):
        assert (run / name).is_file(), name
    assert json.loads((run / "config.json").read_text())["input_size"] == 32
    split = _rows(run / "split.csv")
    assert len(split) == 16
    train_p = {r["patient_id"] for r in split if r["split"] == "train"}
    val_p = {r["patient_id"] for r in split if r["split"] == "val"}
    assert train_p and val_p and not train_p & val_p
    assert train_p | val_p == {f"p{i}" for i in range(8)}
    metrics = _rows(run / "metrics.csv")
    assert [int(r["epoch"]) for r in metrics] == [0, 1]
    assert {"train_loss", "val_loss", "train_acc", "val_auc", "lr"} <= set(metrics[0])
    assert all(0.0 <= float(r["val_auc"]) <= 1.0 for r in metrics)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["task"] == "glaucoma" and summary["classes"] == ["normal", "glaucoma"]
    assert 0.0 < summary["threshold"] <= 1.0
    assert summary["n_val"] == sum(r["split"] == "val" for r in split) and summary["n_train"] + summary["n_val"] == 16
    assert summary["validation"]["n"] == summary["n_val"]
    assert np.asarray(summary["validation"]["confusion_matrix"]).sum() == summary["n_val"]
    preds = _rows(run / "val_predictions.csv")
    assert {r["key"] for r in preds} == {Path(r["image"]).stem for r in split if r["split"] == "val"}
    assert all(0.0 <= float(r["p_glaucoma"]) <= 1.0 for r in preds)
    assert run_threshold(run / "checkpoints" / "best.ckpt") == pytest.approx(summary["threshold"], abs=1e-5)
    assert summary["wall_time_s"] > 0
    module = load_classifier_module(run / "checkpoints" / "best.ckpt")
    assert module.config.task == "glaucoma" and not module.training
    assert module.threshold == summary["threshold"]  # saved in the checkpoint
    with pytest.raises(ConfigError, match="not empty"):
        train_classifier(records, cfg, run, progress=False)

    # the threshold is read from the checkpoint, not from the run folder's CSV …
    (run / "val_predictions.csv").rename(run / "moved.csv")
    assert run_threshold(run / "checkpoints" / "best.ckpt") == summary["threshold"]
    # … except for checkpoints written before it was saved there
    (run / "moved.csv").rename(run / "val_predictions.csv")
    set_checkpoint_hyperparameters(run / "checkpoints" / "best.ckpt", threshold=None)
    assert checkpoint_hyperparameters(run / "checkpoints" / "best.ckpt")["threshold"] is None
    assert run_threshold(run / "checkpoints" / "best.ckpt") == pytest.approx(summary["threshold"], abs=1e-6)


@pytest.mark.parametrize(("change", "message"), [
    ({"arch": "compakt"}, "Did you mean 'compact'"),
    ({"loss": "ce"}, "binary"),
    ({"accelerator": "cpuu"}, "unknown accelerator 'cpuu'"),
])
def test_a_run_that_cannot_start_writes_nothing(tmp_path, change, message):
    records = make_class_records(tmp_path, n_patients=8, per_patient=1, size=32)
    cfg = ClassificationConfig(task="glaucoma", input_size=32, epochs=1, **change)
    with pytest.raises(ConfigError, match=message):
        train_classifier(records, cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_cross_validation_never_shares_a_subject_between_folds(tmp_path):
    records = _progression_records(12)
    cfg = ClassificationConfig(task="progression", inputs="clinical", epochs=2, batch_size=4, lr=0.05,
                               val_fraction=0.3, accelerator="cpu")
    report = cross_validate(records, cfg, tmp_path / "cv", k=3)
    subject = lambda key: key.split("_")[0]  # noqa: E731
    oof = _rows(tmp_path / "cv" / "oof_predictions.csv")
    assert len(oof) == 24 and all(r["key"].endswith("_1") for r in oof)  # baseline visits only, each once
    assert len({r["key"] for r in oof}) == 24
    sizes = [f["n"] for f in report["cv"]["folds"]]
    assert sum(sizes) == 24 and report["cv"]["k"] == 3 and len(sizes) == 3
    held, start = [], 0
    for i, n in enumerate(sizes):
        fold_subjects = {subject(r["key"]) for r in oof[start:start + n]}
        start += n
        split = _rows(tmp_path / "cv" / f"fold{i + 1}" / "split.csv")
        trained_on = {r["patient_id"] for r in split}
        assert fold_subjects and not fold_subjects & trained_on, f"fold {i + 1} trained on held-out subjects"
        assert trained_on | fold_subjects == {str(s) for s in range(1, 13)}
        inner_train = {r["patient_id"] for r in split if r["split"] == "train"}
        inner_val = {r["patient_id"] for r in split if r["split"] == "val"}
        assert inner_train and inner_val and not inner_train & inner_val
        held.append(fold_subjects)
    assert sum(len(h) for h in held) == 12 and set().union(*held) == {str(s) for s in range(1, 13)}
    assert report["cv"]["groups_per_fold"] == [len(h) for h in held]
    assert report["n"] == 24
    assert np.asarray(report["confusion_matrix"]).sum() == 24
    assert report["auc"] > 0.9  # IOP separates the classes
    saved = json.loads((tmp_path / "cv" / "cv_report.json").read_text())
    assert saved["cv"]["k"] == 3 and saved["auc"] == pytest.approx(report["auc"])


def test_task_records_relabels_grape_and_keeps_baseline_visits():
    grape = _progression_records(2)
    other = [Record(Path("/x/a.png"), label="normal", dataset="acrima", key="a"),
             Record(Path("/x/b.png"), label="glaucoma", dataset="acrima", key="b"),
             Record(Path("/x/c.png"), label="benign", dataset="busi", key="c"),
             Record(Path("/x/d.png"), label="glaucoma", dataset="grape", key="d")]  # no visit field: kept
    out = task_records(grape + other, "glaucoma")
    assert [r.key for r in out] == ["1_OD_1", "1_OS_1", "2_OD_1", "2_OS_1", "a", "b", "d"]
    assert [r.label for r in out] == ["glaucoma"] * 4 + ["normal", "glaucoma", "glaucoma"]
    prog = task_records(grape + other, "progression")
    assert [(r.key, r.label) for r in prog] == [("1_OD_1", "progressing"), ("1_OS_1", "progressing"),
                                                ("2_OD_1", "stable"), ("2_OS_1", "stable")]
    assert grape[0].label == "progressing"  # inputs untouched
    with pytest.raises(ConfigError, match="normal / benign / malignant"):
        task_records(grape + other[1:2], "breast-class")


def test_load_classifier_module_refuses_missing_or_garbage_files(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_classifier_module(tmp_path / "nope.ckpt")
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ModelError, match="not a readable medscreen classification checkpoint"):
        load_classifier_module(bad)
    torch.save({"state_dict": {}, "hyper_parameters": {}}, tmp_path / "foreign.ckpt")
    with pytest.raises(ModelError, match="foreign.ckpt"):
        load_classifier_module(tmp_path / "foreign.ckpt")


def test_run_threshold_follows_the_validation_predictions(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    assert run_threshold(run / "checkpoints" / "best.ckpt") == 0.5  # nothing to compute it from
    (run / "config.json").write_text(ClassificationConfig(task="glaucoma", min_sensitivity=0.5).model_dump_json())
    rows = [("a", "normal", 0.1), ("b", "normal", 0.3), ("c", "glaucoma", 0.6), ("d", "glaucoma", 0.9)]
    (run / "val_predictions.csv").write_text(
        "key,source,label,p_glaucoma\n" + "".join(f"{k},x,{lab},{p}\n" for k, lab, p in rows)
    )
    # sensitivity ≥ 0.5 is first reached at 0.9; halfway down to the next score 0.6
    assert run_threshold(run / "checkpoints" / "best.ckpt") == pytest.approx(0.75)

def test_plot_curves_draws_the_metric_columns(tmp_path):
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("epoch,train_loss,val_loss,train_acc,val_auc,lr\n0,0.7,0.69,0.5,0.6,0.001\n"
                       "1,0.5,0.6,0.7,0.8,0.001\n")
    plot_curves(metrics, tmp_path / "curves.png")
    from PIL import Image

    assert Image.open(tmp_path / "curves.png").size == (900, 350)
    empty = tmp_path / "empty.csv"
    empty.write_text("epoch,train_loss,val_loss,train_acc,val_auc,lr\n")
    plot_curves(empty, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


@pytest.mark.slow
def test_cross_validation_decodes_each_image_once(tmp_path, monkeypatch):
    import medscreen.inference.classification as inference

    records = make_class_records(tmp_path, n_patients=6, per_patient=2, size=32)
    calls: list[str] = []
    real = inference.task_image

    def counting(record, *args, **kwargs):
        calls.append(str(record.image))
        return real(record, *args, **kwargs)

    monkeypatch.setattr(inference, "task_image", counting)
    cfg = ClassificationConfig(task="glaucoma", input_size=32, epochs=1, batch_size=4, val_fraction=0.34,
                               accelerator="cpu", select="last")
    report = cross_validate(records, cfg, tmp_path / "cv", k=2)
    assert report["n"] == len(records)
    assert sorted(calls) == sorted(str(r.image) for r in records)  # 2 folds, yet every image read once


def test_checkpoint_choice_uses_within_source_auc_when_cameras_differ():
    from medscreen.training.classification import _mean_source_auc

    # camera A: all high scores, camera B: all low; within each camera the ranking is perfect,
    # while pooled the camera dominates (A's normals outrank B's glaucoma)
    truth = np.array([0, 1, 0, 1, 0, 0, 1])
    prob = np.array([0.80, 0.90, 0.10, 0.20, 0.85, 0.05, 0.95])
    sources = ["a", "a", "b", "b", "a", "b", "a"]
    assert _mean_source_auc(truth, prob, sources) == pytest.approx(1.0)
    assert _mean_source_auc(truth, prob, None) < 0.9
    # a one-class source does not count; a single source falls back to the pooled AUC
    assert _mean_source_auc(np.array([1, 1, 0, 1]), np.array([0.9, 0.8, 0.1, 0.7]), ["a", "a", "b", "b"]) == 1.0
    assert _mean_source_auc(truth, prob, ["a"] * 7) == _mean_source_auc(truth, prob, None)


def test_source_balanced_sampler_draws_each_source_and_class_equally(tmp_path):
    from collections import Counter

    from medscreen.training.classification import ClassItem, _loader

    img = np.zeros((32, 32, 3), np.uint8)
    items = ([ClassItem(f"a{i}", 1, "a", img, None) for i in range(90)] + [ClassItem("a-n", 0, "a", img, None)]
             + [ClassItem(f"b{i}", 0, "b", img, None) for i in range(9)] + [ClassItem("b-g", 1, "b", img, None)])
    cfg = ClassificationConfig(task="glaucoma", balance="source", input_size=32, batch_size=100)
    loader = _loader(items, cfg, train=True)
    drawn = Counter()
    for _ in range(20):
        for index in loader.sampler:
            drawn[(items[index].source, items[index].label)] += 1
    shares = np.array(list(drawn.values())) / sum(drawn.values())
    assert len(drawn) == 4 and np.allclose(shares, 0.25, atol=0.04)


@pytest.mark.slow
def test_a_unet_encoder_classifier_starts_from_a_disc_models_encoder(tmp_path):
    from medscreen.models.unet import unet_encoder
    from medscreen.training.config import SegmentationConfig
    from medscreen.training.segmentation import load_module, train_segmentation
    from tests_support import make_blob_records

    for folder in ("d", "g", "b"):
        (tmp_path / folder).mkdir()
    disc = train_segmentation(make_blob_records(tmp_path / "d", n=6, rgb=True),
                              SegmentationConfig(task="disc", norm="instance", input_size=64, cache_side=64, epochs=1,
                                                 batch_size=4, val_fraction=0.34), tmp_path / "disc",
                              progress=False) / "checkpoints" / "best.ckpt"
    records = make_class_records(tmp_path / "g", n_patients=8, per_patient=1, size=32)
    cfg = ClassificationConfig(task="glaucoma", arch="unet-encoder", init_from=str(disc), input_size=32, epochs=1,
                               lr=1e-12, weight_decay=0.0, accelerator="cpu")
    run = train_classifier(records, cfg, tmp_path / "run", progress=False)
    learnt = load_classifier_module(run / "checkpoints" / "best.ckpt").net.image_net.features.state_dict()
    encoder = torch.nn.Sequential(*unet_encoder(load_module(disc).net)).state_dict()
    assert learnt.keys() == encoder.keys()
    assert all(torch.allclose(learnt[k].float(), encoder[k].float(), atol=1e-6) for k in encoder)
    # refused before anything is written: another architecture, a classifier, a batch-norm U-Net
    with pytest.raises(ValueError, match="use --arch unet-encoder"):
        ClassificationConfig(task="glaucoma", arch="compact", init_from=str(disc))
    with pytest.raises(ConfigError, match="a glaucoma checkpoint has no U-Net encoder"):
        train_classifier(records, cfg.model_copy(update={"init_from": str(run / "checkpoints" / "best.ckpt")}),
                         tmp_path / "r2", progress=False)
    batch_norm = train_segmentation(make_blob_records(tmp_path / "b", n=6, rgb=True),
                                    SegmentationConfig(task="disc", input_size=64, cache_side=64, epochs=1,
                                                       batch_size=4, val_fraction=0.34), tmp_path / "bn",
                                    progress=False) / "checkpoints" / "best.ckpt"
    with pytest.raises(ConfigError, match="not a compact U-Net with instance norm"):
        train_classifier(records, cfg.model_copy(update={"init_from": str(batch_norm)}), tmp_path / "r3",
                         progress=False)
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()
