"""Tests of medscreen.datasets.manifest on small generated files."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from medscreen.datasets.manifest import MANIFEST_COLUMNS, read_manifest, write_manifest
from medscreen.datasets.records import Record, Severity
from medscreen.errors import ManifestError, MedscreenError


def _png(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 6), value).save(path)
    return path


def _csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """Images and masks under tmp_path/data."""
    root = tmp_path / "data"
    for name in ("a", "b", "c"):
        _png(root / "images" / f"{name}.png", 10)
        _png(root / "masks" / f"{name}.png", 255)
    _png(root / "masks" / "b_2.png", 255)
    return root


def test_columns_constant() -> None:
    assert MANIFEST_COLUMNS == ("image", "mask", "label", "patient_id")


def test_relative_absolute_blank_and_multi_mask(tree: Path) -> None:
    absolute_c = tree / "images" / "c.png"
    csv_path = _csv(
        tree / "manifest.csv",
        "image,mask,label,patient_id,split\n"
        "images/a.png,masks/a.png,benign,P1,train\n"
        "images/b.png, masks/b.png ; masks/b_2.png ,malignant,P2,val\n"
        f"{absolute_c},,,,\n",
    )
    index = read_manifest(csv_path)
    assert index.problems == []
    assert index.name == "manifest"
    assert index.root == tree
    a, b, c = index.records
    assert a == Record(tree / "images/a.png", (tree / "masks/a.png",), "benign", "P1", "manifest", "a")
    assert a.fields == {"split": "train"}
    assert b.masks == (tree / "masks/b.png", tree / "masks/b_2.png")
    assert b.label == "malignant" and b.patient_id == "P2"
    assert c.image == absolute_c and c.masks == () and c.label is None and c.patient_id is None
    assert c.fields == {}
    assert c.group == "manifest:c"


def test_header_case_spaces_bom_and_columns_kept(tree: Path) -> None:
    csv_path = tree / "m.csv"
    csv_path.write_bytes(
        "\ufeff Image , MASK,Label,Patient_ID,Dataset,Key,Site\nimages/a.png,masks/a.png,x,7,mine,k1,north\n".encode()
    )
    (record,) = read_manifest(csv_path).records
    assert record.image == tree / "images/a.png"
    assert (record.dataset, record.key, record.patient_id) == ("mine", "k1", "7")
    assert record.fields == {"site": "north"}


def test_paths_relative_to_csv_folder_not_cwd(tree: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    csv_path = _csv(tree / "lists" / "m.csv", "image\n../images/a.png\n")
    monkeypatch.chdir(tmp_path)
    (record,) = read_manifest(csv_path).records
    assert record.image == tree / "images" / "a.png"


def test_round_trip(tree: Path, tmp_path: Path) -> None:
    records = [
        Record(tree / "images/a.png", (tree / "masks/a.png",), "benign", "P1", "busi", "a"),
        Record(tree / "images/b.png", (tree / "masks/b.png", tree / "masks/b_2.png"), "malignant", None, "busi", "b"),
        Record(tree / "images/c.png", (), None, "P3", "manifest", "c"),
    ]
    for relative in (True, False):
        out = write_manifest(records, tmp_path / "out" / f"rt_{relative}.csv", extra={"split": ["train", "val", None]},
                             relative=relative)
        text = out.read_text(encoding="utf-8")
        assert text.splitlines()[0] == "image,mask,label,patient_id,dataset,key,split"
        assert (str(tree) in text) is not relative
        index = read_manifest(out, labels=["benign", "malignant"])
        assert index.problems == []
        assert index.records == records
        assert [r.fields.get("split") for r in index.records] == ["train", "val", None]
        assert [r.group for r in index.records] == [r.group for r in records]


def test_write_rejects_bad_extra(tree: Path, tmp_path: Path) -> None:
    records = [Record(tree / "images/a.png")]
    with pytest.raises(ManifestError, match="1 records"):
        write_manifest(records, tmp_path / "x.csv", extra={"split": ["train", "val"]})
    with pytest.raises(ManifestError, match="one of image, mask, label"):
        write_manifest(records, tmp_path / "x.csv", extra={"Label": ["a"]})


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("", "has no rows; add one row per image"),
        ("image,label\n", "has no rows; add one row per image"),
        ("image,label\n,\n\n", "has no rows; add one row per image"),
    ],
)
def test_no_rows(tmp_path: Path, content: str, match: str) -> None:
    with pytest.raises(ManifestError, match=match):
        read_manifest(_csv(tmp_path / "empty.csv", content))


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="nope.csv does not exist"):
        read_manifest(tmp_path / "nope.csv")
    with pytest.raises(ManifestError, match="not a file"):
        read_manifest(tmp_path)
    assert issubclass(ManifestError, MedscreenError)


def test_not_utf8_and_not_csv(tmp_path: Path) -> None:
    bad = tmp_path / "latin.csv"
    bad.write_bytes("image\nimágen.png\n".encode("latin-1"))
    with pytest.raises(ManifestError, match="not UTF-8"):
        read_manifest(bad)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"image\n\x00\x00\x00")
    with pytest.raises(ManifestError, match="not a CSV"):
        read_manifest(binary)


@pytest.mark.parametrize(
    ("header", "guess"),
    [("img,label", "img"), ("path,label", "path"), ("images,label", "images"), ("file_name,mask", "file_name")],
)
def test_missing_image_column_did_you_mean(tmp_path: Path, header: str, guess: str) -> None:
    csv_path = _csv(tmp_path / "m.csv", f"{header}\nx.png,y\n")
    with pytest.raises(ManifestError) as info:
        read_manifest(csv_path)
    message = str(info.value)
    assert str(csv_path) in message
    assert "no 'image' column" in message
    assert f"did you mean {guess!r}" in message
    assert "image,mask,label,patient_id" in message
    assert "'label'" in message or "'mask'" in message  # lists the columns found


def test_missing_image_column_semicolon_separated(tmp_path: Path) -> None:
    csv_path = _csv(tmp_path / "m.csv", "picture;label\nx.png;benign\n")
    with pytest.raises(ManifestError, match="separated by ';'"):
        read_manifest(csv_path)


def test_repeated_column(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="twice"):
        read_manifest(_csv(tmp_path / "m.csv", "image,Image\na.png,b.png\n"))


def test_bad_rows_are_recorded_with_row_and_column(tree: Path) -> None:
    csv_path = _csv(
        tree / "m.csv",
        "image,mask,label\n"
        "images/a.png,masks/a.png,benign\n"  # row 2: fine
        "images/missing.png,,benign\n"  # row 3: image not found
        ",masks/a.png,benign\n"  # row 4: blank image
        "images/b.png,masks/none.png,benign\n"  # row 5: mask not found
        "images/c.png,,Cat\n",  # row 6: unknown label
    )
    index = read_manifest(csv_path, labels=["benign", "malignant"])
    assert [r.key for r in index.records] == ["a"]
    errors = index.errors
    assert len(errors) == 4 and all(p.severity is Severity.ERROR for p in errors)
    missing, blank, mask, label = errors
    assert missing.path == str(tree / "images" / "missing.png")
    assert "row 3" in missing.message and "'image'" in missing.message and "not found" in missing.message
    assert blank.path == str(csv_path) and "row 4" in blank.message and "blank" in blank.message
    assert mask.path == str(tree / "masks" / "none.png") and "row 5" in mask.message and "'mask'" in mask.message
    assert "row 6" in label.message and "'Cat'" in label.message
    assert "'benign'" in label.message and "'malignant'" in label.message
    assert "row 6" in str(label) and str(csv_path) in str(label)


def test_label_did_you_mean(tree: Path) -> None:
    csv_path = _csv(tree / "m.csv", "image,label\nimages/a.png,Benign\n")
    (problem,) = read_manifest(csv_path, labels=("benign", "malignant")).errors
    assert "did you mean 'benign'" in problem.message


def test_require_masks(tree: Path) -> None:
    csv_path = _csv(tree / "m.csv", "image,mask\nimages/a.png,masks/a.png\nimages/b.png,\n")
    index = read_manifest(csv_path, require_masks=True)
    assert [r.key for r in index.records] == ["a"]
    (problem,) = index.errors
    assert "row 3" in problem.message and "'mask'" in problem.message
    assert read_manifest(csv_path).errors == []
    with pytest.raises(ManifestError, match="no 'mask' column"):
        read_manifest(_csv(tree / "n.csv", "image\nimages/a.png\n"), require_masks=True)


def test_too_many_cells_and_blank_lines(tree: Path) -> None:
    csv_path = _csv(tree / "m.csv", "image,label\n\nimages/a.png,benign\nimages/b.png,benign,extra\n")
    index = read_manifest(csv_path)
    assert [r.key for r in index.records] == ["a"]
    (problem,) = index.errors
    assert "row 4" in problem.message and "3 cells" in problem.message


def test_duplicates_warn_and_shared_stems_get_unique_keys(tree: Path) -> None:
    _png(tree / "other" / "a.png")
    csv_path = _csv(tree / "m.csv", "image,mask\nimages/a.png,\nother/a.png,\nimages/b.png,\nimages/b.png,\n")
    index = read_manifest(csv_path)
    assert index.errors == []
    assert [r.key for r in index.records] == ["images/a", "other/a", "b", "b"]
    warnings = [p for p in index.problems if p.severity is Severity.WARNING]
    assert any("listed 2 times" in p.message for p in warnings)


def test_near_miss_column_warns(tree: Path) -> None:
    index = read_manifest(_csv(tree / "m.csv", "image,masks\nimages/a.png,masks/a.png\n"))
    (warning,) = index.problems
    assert warning.severity is Severity.WARNING and "did you mean 'mask'" in warning.message
    assert index.records[0].masks == () and index.records[0].fields == {"masks": "masks/a.png"}
