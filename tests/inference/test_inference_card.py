"""Model cards: every bundled card loads typed, old (version-1) cards still load, rewriting keeps the files."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from medscreen.errors import ModelError
from medscreen.inference.card import (
    CARD_VERSION,
    CardParams,
    DatasetCredit,
    ModelCard,
    TrainingImages,
    add_metrics,
    load_card,
    parse_card,
    render_card_markdown,
    write_card,
)
from medscreen.inference.runtime import ModelSpec

WEIGHTS = Path(str(resources.files("medscreen") / "weights"))
BUNDLED = sorted(p.stem for p in WEIGHTS.glob("*.json"))
CARD_SOURCES = sorted((Path(__file__).parents[2] / "cards").glob("*.json"))

#: a card as `medscreen export` wrote it before cards had versions
OLD_CARD = {
    "task": "lesion", "arch": "compact", "input_size": 64, "in_channels": 1, "threshold": 0.5,
    "params": {"min_area_fraction": 0.002}, "output": "N×1×S×S logits", "parameters": 1000,
    "training_config": {"task": "lesion", "arch": "compact", "norm": "instance"},
    "sha256": "ab" * 32, "data": "BUSI",
    "licences": ["BUSI: CC0 / CC BY 4.0 (Al-Dhabyani et al. 2020)",
                 "IDRiD (disc positions): CC BY 4.0 — Porwal P. et al., Data (2018), doi:10.3390/data3030025"],
}


def test_every_bundled_model_has_a_card():
    assert BUNDLED == ["breast-class", "disc", "glaucoma", "lesion", "progression"]


@pytest.mark.parametrize("task", BUNDLED)
def test_bundled_card_is_current_and_credits_each_training_dataset(task):
    card = load_card(WEIGHTS / f"{task}.json")
    assert card.card_version == CARD_VERSION and card.task == task
    assert card.training_data, "each training dataset with its licence and citation"
    for credit in card.training_data:
        assert credit.licence and "doi:" in credit.citation, credit
    md = (WEIGHTS / f"{task}.md").read_text()
    section = md.split("## Licences of the training data")[1]
    assert all(f"- {line}" in section for line in card.licences)


@pytest.mark.parametrize("task", BUNDLED)
def test_bundled_card_records_its_training_and_validation_images(task):
    card = load_card(WEIGHTS / f"{task}.json")
    images = card.training_images
    assert images is not None and images.train and images.val
    assert images.train == sorted(set(images.train)) and images.val == sorted(set(images.val))
    if card.training_split is not None:  # at least one digest per image of the run's split
        assert len(images.train) >= card.training_split.n_train and len(images.val) >= card.training_split.n_val
    assert f"{len(images.train)} training, {len(images.val)} validation" in (WEIGHTS / f"{task}.md").read_text()


def test_training_images_round_trip_through_the_card(tmp_path):
    credit = {"name": "blobs", "licence": "CC0", "citation": "this test"}
    digests = {"train": ["CD" * 32, "ab" * 32, "ab" * 32], "val": ["ef" * 32]}
    card = parse_card({"card_version": 3, "task": "lesion", "input_size": 64, "in_channels": 1,
                       "training_data": [credit], "training_images": digests}, "new.json")
    assert card.training_images == TrainingImages(train=["ab" * 32, "cd" * 32], val=["ef" * 32])
    json_path, md_path = write_card(card, tmp_path / "lesion.onnx")
    again = load_card(json_path)
    assert again.training_images == card.training_images and again.card_version == 3
    assert json.loads(json_path.read_text())["training_images"] == {"train": ["ab" * 32, "cd" * 32], "val": ["ef" * 32]}
    assert "2 training, 1 validation" in md_path.read_text()
    assert card.training_images.status(["cd" * 32]) == "train" and card.training_images.status(["00" * 32]) == "unseen"
    with pytest.raises(ModelError, match=r"training_images.*not a SHA-256"):
        parse_card({"card_version": 3, "task": "lesion", "input_size": 64, "in_channels": 1,
                    "training_data": [credit], "training_images": {"train": ["IDRiD_01.jpg"]}}, "bad.json")


@pytest.mark.parametrize("task", BUNDLED)
def test_rewriting_a_bundled_card_reproduces_its_files(task, tmp_path):
    card = load_card(WEIGHTS / f"{task}.json")
    json_path, md_path = write_card(card, tmp_path / f"{task}.onnx")
    assert json.loads(json_path.read_text()) == json.loads((WEIGHTS / f"{task}.json").read_text())
    assert json_path.read_text() == (WEIGHTS / f"{task}.json").read_text()  # key order kept too
    assert md_path.read_text() == (WEIGHTS / f"{task}.md").read_text()


@pytest.mark.parametrize("path", CARD_SOURCES, ids=lambda p: p.name)
def test_card_sources_name_their_training_data(path):
    data = json.loads(path.read_text())
    assert [DatasetCredit(**c) for c in data["training_data"]]


def test_old_cards_without_a_version_still_load(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps(OLD_CARD))
    card = load_card(path)
    assert card.card_version == 1 and card.training_images is None  # not recorded: unknown
    assert card.training_data == [
        DatasetCredit(name="BUSI", licence="CC0 / CC BY 4.0", citation="Al-Dhabyani et al. 2020"),
        DatasetCredit(name="IDRiD", licence="CC BY 4.0", citation="Porwal P. et al., Data (2018), doi:10.3390/data3030025",
                      note="disc positions"),
    ]
    assert card.licences[1] == OLD_CARD["licences"][1]
    assert card.params.min_area_fraction == 0.002 and card.norm == "instance"
    spec = ModelSpec.from_card(card)
    assert (spec.task, spec.input_size, spec.in_channels, spec.threshold) == ("lesion", 64, 1, 0.5)
    # written back, it keeps its version and every field; the licence lines come back as they were
    written = json.loads(write_card(card, tmp_path / "old.onnx")[0].read_text())
    assert written["card_version"] == 1 and written["licences"][1] == OLD_CARD["licences"][1]
    assert {k: v for k, v in written.items() if k not in ("card_version", "training_data", "licences")} == {
        k: v for k, v in OLD_CARD.items() if k != "licences"}


def test_a_minimal_old_card_loads_with_the_old_defaults():
    card = parse_card({"task": "disc", "input_size": 64, "in_channels": 3}, "x.json")
    assert card.card_version == 1 and card.training_data == [] and card.threshold == 0.5
    assert card.params == CardParams() and card.params.refine_k == 3.0 and card.params.crop_k == 2.2
    assert card.to_json() == {"task": "disc", "input_size": 64, "in_channels": 3, "card_version": 1,
                              "training_data": [], "licences": []}


def test_a_current_card_must_name_its_training_data():
    with pytest.raises(ModelError, match=r"'training_data'|training dataset"):
        parse_card({"card_version": 2, "task": "disc", "input_size": 64, "in_channels": 3}, "new.json")
    with pytest.raises(ModelError, match="citation"):
        parse_card({"card_version": 2, "task": "disc", "input_size": 64, "in_channels": 3,
                    "training_data": [{"name": "IDRiD", "licence": "CC BY 4.0"}]}, "new.json")


def test_broken_cards_are_model_errors_naming_the_field(tmp_path):
    with pytest.raises(ModelError, match="input_size"):
        parse_card({"task": "disc", "in_channels": 3}, "x.json")
    with pytest.raises(ModelError, match="not found"):
        load_card(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ModelError, match="not JSON"):
        load_card(tmp_path / "bad.json")


def test_fields_a_card_does_not_declare_are_kept():
    card = parse_card({**OLD_CARD, "disc_location": {"idrid": {"n": 11}}, "params": {"future_knob": 1}}, "x")
    out = card.to_json()
    assert out["disc_location"] == {"idrid": {"n": 11}} and out["params"] == {"future_knob": 1}


def test_add_metrics_records_a_report_and_new_commands_only():
    card = parse_card(OLD_CARD, "x")
    once = add_metrics(card, "validation", {"n": 3, "dice": 0.5}, ["medscreen evaluate lesion"])
    twice = add_metrics(once, "validation", {"n": 4}, ["medscreen evaluate lesion"])
    assert twice.metrics == {"validation": {"n": 4}} and twice.commands == ["medscreen evaluate lesion"]
    assert "commands" not in add_metrics(card, "v", {"n": 1}).to_json()
    assert "## Validation: validation" in render_card_markdown(once)


def test_model_spec_accepts_params_as_a_mapping():
    spec = ModelSpec("disc", 64, 3, 0.5, {"refine_k": 2.5})
    assert isinstance(spec.params, CardParams) and spec.params.refine_k == 2.5 and spec.params.min_refine == 0.35


def test_direct_construction_is_a_current_card():
    credit = DatasetCredit(name="IDRiD", licence="CC BY 4.0", citation="Porwal P. et al. (2018)")
    card = ModelCard(task="disc", input_size=64, in_channels=3, training_data=[credit])
    assert card.card_version == CARD_VERSION and card.licences == ["IDRiD: CC BY 4.0 — Porwal P. et al. (2018)"]
