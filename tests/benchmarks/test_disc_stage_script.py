"""``benchmarks/disc_stage.py``: one round per checkout, the outline it found, and a clear refusal of a wrong --src."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "disc_stage.py"


def test_one_round_times_the_stage_and_reports_the_outline_from_the_given_src(tmp_path):
    out = tmp_path / "disc_stage.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--src", str(REPO / "src"), "--rounds", "1", "--repeats", "2",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (rounds,) = json.loads(out.read_text())["rounds"].values()
    assert len(rounds) == 1 and rounds[0]["package"] == str(REPO / "src" / "medscreen" / "__init__.py")
    assert rounds[0]["cpu_p50_ms"] > 0 and rounds[0]["mask_pixels"] > 0


def test_a_src_without_the_package_is_refused_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--src", str(tmp_path), "--out", str(tmp_path / "x.json")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "holds no medscreen package" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.json").exists()
