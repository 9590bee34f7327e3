"""The run skeleton's files: split.csv carries what the exported card needs."""

from __future__ import annotations

from pathlib import Path

from medscreen.datasets.manifest import read_manifest
from medscreen.datasets.records import Record
from medscreen.training.config import SegmentationConfig
from medscreen.training.run import Run


def _records(root: Path, digests: list[str | None]) -> list[Record]:
    records = []
    for i, digest in enumerate(digests):
        (root / f"c{i}.jpg").write_bytes(b"x")
        fields = {"source_sha256": digest} if digest else {}
        records.append(Record(root / f"c{i}.jpg", label="normal", dataset="acrima", key=f"c{i}", fields=fields))
    return records


def test_split_csv_carries_each_crops_source_digest(tmp_path):
    records = _records(tmp_path, ["ab" * 32, "cd" * 32, "ef" * 32])
    run = Run(tmp_path / "run", resume=False)
    run.write_files(SegmentationConfig(task="lesion"), records[:2], records[2:])
    rows = read_manifest(tmp_path / "run" / "split.csv").records
    assert [(r.fields["split"], r.fields["source_sha256"]) for r in rows] == [
        ("train", "ab" * 32), ("train", "cd" * 32), ("val", "ef" * 32)]


def test_split_csv_has_no_source_column_for_plain_images(tmp_path):
    records = _records(tmp_path, [None, None])
    Run(tmp_path / "run", resume=False).write_files(SegmentationConfig(task="lesion"), records[:1], records[1:])
    assert (tmp_path / "run" / "split.csv").read_text().splitlines()[0] == "image,mask,label,patient_id,dataset,key,split"
