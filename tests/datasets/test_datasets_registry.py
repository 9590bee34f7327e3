"""Tests for the dataset registry: detection, reading by name, folders of datasets."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from medscreen.datasets import READERS, DatasetIndex, detect_dataset, find_datasets, read_dataset
from medscreen.errors import ConfigError, DatasetLayoutError


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8)).save(path)


def _busi(root: Path) -> None:
    for name in ("benign (1).png", "benign (1)_mask.png"):
        _png(root / "Dataset_BUSI_with_GT" / "benign" / name)


def _busbra(root: Path) -> None:
    _png(root / "Images" / "bus_0001-s.png")
    _png(root / "Masks" / "mask_0001-s.png")
    (root / "bus_data.csv").write_text(
        "ID,Case,Histology,Pathology,BIRADS,Device,Width,Height,Side,BBOX\n"
        'bus_0001-s,1,cyst,benign,2,d,8,8,single,"[1,1,2,2]"\n'
    )


def _idrid(root: Path) -> None:
    seg = root / "A. Segmentation"
    _png(seg / "1. Original Images" / "a. Training Set" / "IDRiD_01.jpg")
    _png(seg / "2. All Segmentation Groundtruths" / "a. Training Set" / "5. Optic Disc" / "IDRiD_01_OD.tif")


def _acrima(root: Path) -> None:
    _png(root / "Database" / "Images" / "Im001_g_ACRIMA.jpg")


def test_readers_are_plain_data() -> None:
    assert list(READERS) == ["busi", "bus-bra", "idrid", "acrima", "grape", "hygd"]
    assert all(callable(r.detect) and callable(r.read) and r.description for r in READERS.values())


def test_detect_and_read_each_layout(tmp_path: Path) -> None:
    builders = {"busi": _busi, "bus-bra": _busbra, "idrid": _idrid, "acrima": _acrima}
    for name, build in builders.items():
        build(tmp_path / name)
        assert detect_dataset(tmp_path / name) == name
        index = read_dataset(tmp_path / name)
        assert isinstance(index, DatasetIndex) and index.name == name and len(index.records) == 1
    assert detect_dataset(tmp_path) is None and detect_dataset(tmp_path / "missing") is None
    indexes = find_datasets(tmp_path)
    assert sorted(i.name for i in indexes) == sorted(builders)
    assert [i.name for i in find_datasets(tmp_path / "busi")] == ["busi"]


def test_read_by_name_aliases_and_unknown_name(tmp_path: Path) -> None:
    _busbra(tmp_path)
    assert read_dataset(tmp_path, "BUSBRA").name == "bus-bra"
    assert read_dataset(tmp_path, "bus_bra").name == "bus-bra"
    with pytest.raises(ConfigError, match="Did you mean 'busi'") as info:
        read_dataset(tmp_path, "bsui")
    assert "acrima" in str(info.value)
    with pytest.raises(DatasetLayoutError, match="BUSI"):
        read_dataset(tmp_path, "busi")


def test_nothing_recognised_lists_layouts_and_the_csv_option(tmp_path: Path) -> None:
    (tmp_path / "scans").mkdir()
    for call in (read_dataset, find_datasets):
        with pytest.raises(DatasetLayoutError) as info:
            call(tmp_path)
        message = str(info.value)
        assert str(tmp_path) in message and "--manifest" in message
        assert all(word in message for word in ("BUSI", "bus_data.csv", "A. Segmentation", "ACRIMA", "GRAPE"))


@pytest.mark.data
def test_real_data_folder(data_dir: Path) -> None:
    indexes = {i.name: i for i in find_datasets(data_dir)}
    assert set(indexes) == {"busi", "bus-bra", "idrid", "acrima", "grape", "hygd"}
    counts = {name: len(i.records) for name, i in indexes.items()}
    assert counts == {"busi": 624, "bus-bra": 571, "idrid": 54, "acrima": 705, "grape": 631, "hygd": 737}
    assert not any(i.errors for i in indexes.values())
    for folder, name in {"busi": "busi", "bus-bra": "bus-bra", "idrid": "idrid", "acrima": "acrima"}.items():
        assert detect_dataset(data_dir / folder) == name
