"""Training options come from the Pydantic configs: ``--config FILE``, ``--set key=value``, the kept option
names, and names checked before a run folder is written."""

from __future__ import annotations

import inspect
import json

import pytest
from pydantic import ValidationError
from tests_support import invoke_cli, make_class_records

from medscreen.cli._options import ConfigValues
from medscreen.cli.train import train_app
from medscreen.errors import ConfigError
from medscreen.training.config import ClassificationConfig, SegmentationConfig


def _manifest(root):
    records = make_class_records(root, n_patients=8, per_patient=2, size=32)
    m = root / "m.csv"
    m.write_text("image,label,patient_id\n" + "".join(f"{r.image.name},{r.label},{r.patient_id}\n" for r in records))
    return m


def _command(name: str):
    return next(c.callback for c in train_app.registered_commands if c.name == name)


@pytest.mark.parametrize(("task", "model"), [("glaucoma", ClassificationConfig), ("disc", SegmentationConfig)])
def test_every_setting_is_an_option_with_the_config_default(task, model):
    params = inspect.signature(_command(task)).parameters
    for name in model.model_fields:
        if name != "task":
            assert name in params and params[name].default.default is None, name  # None: the config decides
    flags = {f for p in params.values() for f in getattr(p.default, "param_decls", ()) or ()}
    for kept in ("--val", "--early-stop", "--out", "--data", "--manifest", "--resume", "--seed", "--config", "--set",
                 "--accelerator", "--num-workers"):
        assert kept in flags, kept
    assert "--init" in flags and ("--criterion" in flags) == (task == "glaucoma")  # glaucoma: unet-encoder's start


def test_file_then_options_then_set(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(ClassificationConfig(task="glaucoma", epochs=7, lr=0.01, input_size=160).model_dump_json())
    cfg = ConfigValues(ClassificationConfig, path, {"epochs": 3}, ("lr=0.5", "max-images=null")).build("glaucoma")
    assert (cfg.epochs, cfg.lr, cfg.input_size, cfg.max_images) == (3, 0.5, 160, None)
    yaml = tmp_path / "c.yaml"
    yaml.write_text("epochs: 9\nbalance: source\n")
    cfg = ConfigValues(ClassificationConfig, yaml).build("glaucoma", full_photos=True)
    assert (cfg.epochs, cfg.balance, cfg.full_photos) == (9, "source", True)
    assert ConfigValues(ClassificationConfig).build("glaucoma").epochs == 40  # the config's default, nowhere else


def test_unknown_keys_and_other_tasks_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown setting 'epoch'. Did you mean 'epochs'"):
        ConfigValues(ClassificationConfig, sets=("epoch=3",)).build("glaucoma")
    with pytest.raises(ConfigError, match="key=value"):
        ConfigValues(ClassificationConfig, sets=("epochs",)).build("glaucoma")
    path = tmp_path / "seg.json"
    path.write_text(SegmentationConfig(task="disc").model_dump_json())
    with pytest.raises(ConfigError, match="unknown setting 'norm'"):
        ConfigValues(ClassificationConfig, path).build("glaucoma")
    path.write_text(json.dumps({"task": "progression"}))
    with pytest.raises(ConfigError, match="'progression'"):
        ConfigValues(ClassificationConfig, path).build("glaucoma")
    with pytest.raises(ValidationError):
        ConfigValues(ClassificationConfig, sets=("epochs=many",)).build("glaucoma")
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="mapping"):
        ConfigValues(ClassificationConfig, path).build("glaucoma")


@pytest.mark.slow  # the corrected rerun trains
def test_a_misspelt_architecture_writes_nothing_so_the_corrected_rerun_trains(tmp_path):
    manifest, run = _manifest(tmp_path), tmp_path / "run"
    args = ["train", "glaucoma", "--manifest", str(manifest), "--out", str(run), "--epochs", "1",
            "--input-size", "32", "--batch-size", "4", "--accelerator", "cpu"]
    result = invoke_cli([*args, "--arch", "compakt"])
    assert result.exit_code == 2 and "Did you mean 'compact'" in result.output, result.output
    assert not run.exists()
    for bad, message in ((["--set", "epoch=2"], "Did you mean 'epochs'"),
                         (["--accelerator", "gpux"], "unknown accelerator 'gpux'")):
        result = invoke_cli([*args, *bad])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
        assert not run.exists()
    result = invoke_cli([*args, "--arch", "compact"])
    assert result.exit_code == 0, result.output
    # a run's config.json is a config file: rerun it elsewhere with one setting changed
    again = tmp_path / "again"
    result = invoke_cli(["train", "glaucoma", "--manifest", str(manifest), "--out", str(again),
                         "--config", str(run / "config.json"), "--set", "select=last"])
    assert result.exit_code == 0, result.output
    first, second = (json.loads((r / "config.json").read_text()) for r in (run, again))
    assert {k for k in first if first[k] != second[k]} == {"select"}
