"""Training images: digests from a run's split, seen/unseen per evaluated image, the seen block and its warning."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from tests_support import invoke_cli, make_blob_records, make_screening_models

from medscreen.datasets.manifest import write_manifest
from medscreen.datasets.records import Record
from medscreen.errors import ConfigError, ModelError
from medscreen.inference.card import TrainingImages, load_card, parse_card
from medscreen.inference.evaluate import evaluate_segmentation
from medscreen.inference.provenance import (
    checkpoint_training_images,
    image_digests,
    records_to_score,
    seen_report,
    seen_statuses,
    seen_warning,
    split_training_images,
)
from medscreen.inference.runtime import OnnxModel


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def blobs(tmp_path: Path) -> list[Record]:
    data = tmp_path / "data"
    data.mkdir()
    return make_blob_records(data, n=8)


def _split(records: list[Record], path: Path, train: int, val: int) -> Path:
    """A split.csv: the first ``train`` records train, the next ``val`` val, the rest test."""
    splits = ["train"] * train + ["val"] * val + ["test"] * (len(records) - train - val)
    return write_manifest(records, path, extra={"split": splits})


def test_split_digests_are_the_files_bytes_by_split(blobs, tmp_path):
    split = _split(blobs, tmp_path / "run" / "split.csv", 3, 2)  # paths relative to the run folder
    images = split_training_images(split)
    assert images.train == sorted(_sha(r.image) for r in blobs[:3])
    assert images.val == sorted(_sha(r.image) for r in blobs[3:5])  # test rows are not the model's


def test_a_crops_source_digest_stands_for_its_image(blobs, tmp_path):
    photo_digest = "ab" * 32
    split = write_manifest(blobs[:2], tmp_path / "split.csv",
                           extra={"split": ["train", "val"], "source_sha256": [photo_digest, ""]})
    images = split_training_images(split)
    assert images.train == [photo_digest] and images.val == [_sha(blobs[1].image)]
    # a crop evaluated from a crops manifest is recognised by its photo's digest
    crop = replace(blobs[5], fields={"source_sha256": photo_digest.upper()})
    assert image_digests(crop) == (_sha(blobs[5].image), photo_digest)
    assert seen_statuses([crop, blobs[1], blobs[6]], images) == ["train", "val", "unseen"]


def test_sources_replace_a_rows_image_by_dataset_and_key(blobs, tmp_path):
    split = _split(blobs[:2], tmp_path / "split.csv", 1, 1)
    sources = {("fixture", "im0"): [blobs[6].image, blobs[7].image]}
    images = split_training_images(split, sources=sources)
    assert images.train == sorted([_sha(blobs[6].image), _sha(blobs[7].image)])
    assert images.val == [_sha(blobs[1].image)]


def test_an_unreadable_split_or_image_is_a_model_error_naming_it(blobs, tmp_path):
    split = _split(blobs[:3], tmp_path / "split.csv", 2, 1)
    blobs[1].image.unlink()
    with pytest.raises(ModelError, match=r"1 training image\(s\) cannot be read, first .*im1\.png"):
        split_training_images(split)
    with pytest.raises(ModelError, match="not found"):
        split_training_images(tmp_path / "none.csv")
    (tmp_path / "bad.csv").write_text("image,label\nx.png,benign\n")
    with pytest.raises(ModelError, match="'image' and 'split' columns"):
        split_training_images(tmp_path / "bad.csv")


def test_a_checkpoint_without_a_readable_split_has_unknown_training_images(blobs, tmp_path):
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    assert checkpoint_training_images(ckpt) is None
    _split(blobs, tmp_path / "run" / "split.csv", 4, 2)
    assert checkpoint_training_images(ckpt) == split_training_images(tmp_path / "run" / "split.csv")


def test_unseen_only_keeps_the_unseen_and_counts_the_rest(blobs):
    training = TrainingImages(train=[_sha(r.image) for r in blobs[:3]], val=[_sha(blobs[3].image)])
    kept, statuses, left_out = records_to_score(blobs, training, unseen_only=True)
    assert kept == blobs[4:] and statuses == ["unseen"] * 4 and left_out == {"train": 3, "val": 1}
    with pytest.raises(ConfigError, match="needs a model card that records its training images"):
        records_to_score(blobs, None, unseen_only=True)
    with pytest.raises(ConfigError, match="nothing unseen"):
        records_to_score(blobs[:3], training, unseen_only=True)
    assert records_to_score(blobs, None) == (blobs, ["unknown"] * 8, {})


def test_the_seen_block_summarises_each_group_and_warns_about_training_images():
    statuses = ["train", "train", "val", "unseen", "unseen", "unseen"]
    scores = [0.9, 0.8, 0.7, 0.5, 0.6, 0.4]

    def summarise(idx):
        return {"n": len(idx), "dice": sum(scores[i] for i in idx) / len(idx), "dice_ci95": [0.1, 0.2]}

    block = seen_report(statuses, summarise)
    assert block["recorded"] and block["counts"] == {"train": 2, "val": 1, "unseen": 3}
    assert block["train"]["dice"] == pytest.approx(0.85) and block["unseen"]["dice"] == pytest.approx(0.5)
    assert block["val"]["n"] == 1
    warning = seen_warning(block, metric="dice", label="Dice")
    assert warning.startswith("2 of 6 images were in this model's training data")
    assert "1 more were in its validation split" in warning and "3 unseen images alone give Dice 0.50 [0.10, 0.20]" in warning
    assert seen_warning(seen_report(["val", "unseen"], summarise), metric="dice", label="Dice") is None
    only_train = seen_report(["train"], summarise)
    assert only_train["unseen"] is None and "none is unseen" in seen_warning(only_train, metric="dice", label="Dice")
    no_unseen = seen_warning(seen_report(["train", "val", "val"], summarise), metric="dice", label="Dice")
    assert "none is unseen: its 2 validation images alone give Dice 0.75 [0.10, 0.20]" in no_unseen
    unknown = seen_report(["unknown", "unknown"], summarise)
    assert unknown == {"recorded": False, "counts": {"unknown": 2}, "unseen_only": False, "left_out": {},
                       "note": unknown["note"]} and "unknown" in unknown["note"]


def _lesion_model(folder: Path, training: TrainingImages | None) -> Path:
    """The tiny hand-made lesion model, its card recording ``training`` (None: a version-1 card)."""
    path = make_screening_models(folder)["lesion"]
    card = json.loads(path.with_suffix(".json").read_text())
    if training is not None:
        card = {**card, "card_version": 3, "training_images": training.model_dump(),
                "training_data": [{"name": "blobs", "licence": "CC0", "citation": "this test"}]}
    path.with_suffix(".json").write_text(json.dumps(card))
    return path


def test_evaluate_reports_seen_and_unseen_images_apart_and_warns(blobs, tmp_path):
    training = TrainingImages(train=[_sha(r.image) for r in blobs[:3]], val=[_sha(blobs[3].image)])
    model = OnnxModel(_lesion_model(tmp_path / "models", training))
    assert load_card(model.path.with_suffix(".json")).training_images == training
    report = evaluate_segmentation(blobs, "lesion", model, model.spec, out_dir=tmp_path / "eval",
                                   training=model.card.training_images)
    seen = report["seen"]
    assert seen["counts"] == {"train": 3, "val": 1, "unseen": 4} and report["n"] == 8
    assert seen["train"]["n"] == 3 and seen["val"]["n"] == 1 and seen["unseen"]["n"] == 4
    assert report["warning"].startswith("3 of 8 images were in this model's training data")
    with (tmp_path / "eval" / "per_image.csv").open() as f:
        assert [r["seen"] for r in csv.DictReader(f)] == ["train"] * 3 + ["val"] + ["unseen"] * 4
    unseen = evaluate_segmentation(blobs, "lesion", model, model.spec, training=training, unseen_only=True)
    assert unseen["n"] == 4 and unseen["dice"] == pytest.approx(seen["unseen"]["dice"])
    assert unseen["seen"]["left_out"] == {"train": 3, "val": 1} and "warning" not in unseen


def test_the_cli_prints_the_warning_and_scores_unseen_only(blobs, tmp_path):
    training = TrainingImages(train=[_sha(r.image) for r in blobs[:5]])
    model = _lesion_model(tmp_path / "models", training)
    manifest = write_manifest(blobs, tmp_path / "m.csv")
    args = ["evaluate", "lesion", "--manifest", str(manifest), "--model", str(model)]
    result = invoke_cli([*args, "--json", str(tmp_path / "all.json")])
    assert result.exit_code == 0, result.output
    assert "warning: 5 of 8 images were in this model's training data" in " ".join(result.output.split())
    report = json.loads((tmp_path / "all.json").read_text())
    assert report["seen"]["counts"] == {"train": 5, "val": 0, "unseen": 3} and report["n"] == 8
    result = invoke_cli([*args, "--json", str(tmp_path / "unseen.json"), "--unseen-only"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "unseen.json").read_text())["n"] == 3
    assert "left out 5 training and 0 validation images" in " ".join(result.output.split())


def test_an_old_card_still_evaluates_and_says_unknown(blobs, tmp_path):
    model = _lesion_model(tmp_path / "models", None)
    assert parse_card(json.loads(model.with_suffix(".json").read_text()), "x").training_images is None
    manifest = write_manifest(blobs, tmp_path / "m.csv")
    args = ["evaluate", "lesion", "--manifest", str(manifest), "--model", str(model), "--json", str(tmp_path / "o.json")]
    result = invoke_cli(args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "o.json").read_text())
    assert report["seen"]["counts"] == {"unknown": 8} and not report["seen"]["recorded"] and "warning" not in report
    assert "whether these images were in its training data is unknown" in " ".join(result.output.split())
    refused = invoke_cli([*args, "--unseen-only"])
    assert refused.exit_code == 2 and "records its training images" in refused.output


def test_the_bundled_lesion_card_knows_busis_images_were_trained_on(data_dir):
    from collections import Counter

    from medscreen.datasets.registry import read_dataset
    from medscreen.inference.runtime import bundled_model_path

    if not (data_dir / "busi").is_dir():
        pytest.skip(f"BUSI not found at {data_dir / 'busi'}")
    records = read_dataset(data_dir / "busi").records
    card = load_card(bundled_model_path("lesion").with_suffix(".json"))
    # the lesion run's split: BUSI by image, 500 training and 124 validation images (card: 124 BUSI in validation)
    assert Counter(seen_statuses(records, card.training_images)) == {"train": 500, "val": 124}
