"""write_disc_crops: the disc stage runs once per photo and leaves crops plus manifests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.data import retina

from medscreen.datasets.manifest import read_manifest
from medscreen.datasets.records import Record
from medscreen.errors import ConfigError
from medscreen.inference.crops import record_is_crop, write_disc_crops
from medscreen.io.images import file_sha256


def test_photos_are_cropped_around_the_disc_and_crops_only_squared(tmp_path: Path) -> None:
    photo = tmp_path / "p_0.jpg"
    Image.fromarray(retina()[..., :3]).save(photo, quality=90)
    crop = tmp_path / "Im001_ACRIMA.jpg"
    Image.fromarray(np.full((90, 120, 3), 150, np.uint8)).save(crop)
    broken = tmp_path / "p_1.jpg"
    broken.write_bytes(b"not a jpeg")
    records = [Record(photo, label="normal", patient_id="hygd:1", dataset="hygd", key="p_0"),
               Record(broken, label="normal", patient_id="hygd:2", dataset="hygd", key="p_1"),
               Record(crop, label="glaucoma", dataset="acrima", key="Im001_ACRIMA")]
    manifest = write_disc_crops(records, tmp_path / "out", size=64)
    rows = read_manifest(manifest).records
    assert [(r.dataset, r.label, r.patient_id) for r in rows] == [("hygd", "normal", "hygd:1"),
                                                                   ("acrima", "glaucoma", None)]
    assert all(Image.open(r.image).size == (64, 64) for r in rows)
    # each crop names its source photo by digest, so a card trained on crops records the photos
    assert [r.fields["source_sha256"] for r in rows] == [file_sha256(photo), file_sha256(crop)]
    assert read_manifest(tmp_path / "out" / "manifest_acrima.csv").records[0].fields["source_sha256"] == \
        file_sha256(crop)
    assert (tmp_path / "out" / "manifest_hygd.csv").is_file() and (tmp_path / "out" / "manifest_acrima.csv").is_file()
    info = json.loads((tmp_path / "out" / "crops.json").read_text())
    assert info["n"] == 2 and info["n_skipped"] == 1 and len(info["disc_model_sha256"]) == 64
    skipped = (tmp_path / "out" / "skipped.csv").read_text()
    assert "p_1.jpg" in skipped and "unreadable" in skipped  # a bad file is named, the run goes on
    with pytest.raises(ConfigError, match="not empty"):
        write_disc_crops(records, tmp_path / "out")


def test_which_records_are_published_crops(tmp_path: Path) -> None:
    assert record_is_crop(Record(tmp_path / "Im1_ACRIMA.jpg", dataset="acrima"))
    assert record_is_crop(Record(tmp_path / "ROI images" / "1_OD_1.jpg", dataset="grape"))
    assert not record_is_crop(Record(tmp_path / "CFPs" / "1_OD_1.jpg", dataset="grape"))
    assert not record_is_crop(Record(tmp_path / "1_0.jpg", dataset="hygd"))


def test_cli_names_a_bad_task_instead_of_a_traceback(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medscreen.cli.main import app

    (tmp_path / "Images").mkdir()  # a readable HYGD folder, so only the task name is wrong
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "Images" / "0_0.jpg")
    (tmp_path / "Labels.csv").write_text("Image Name,Patient,Label,Quality Score,\n0_0.jpg,0,GON+,5,\n")
    result = CliRunner().invoke(app, ["data", "crops", str(tmp_path), "--out", str(tmp_path / "o"), "--task", "glaucma"])
    assert result.exit_code == 2 and "glaucoma" in result.output and "Traceback" not in result.output
