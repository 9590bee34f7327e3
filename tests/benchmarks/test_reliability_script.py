"""benchmarks/reliability.py --quick on a tiny load: a real server, every part, JSON with the counts and nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"acknowledged", "lost", "duplicated", "stuck", "5xx", "peak_rss_mb", "seconds"}


@pytest.mark.slow
def test_reliability_quick_writes_counts_with_nothing_lost(tmp_path: Path) -> None:
    out, scratch = tmp_path / "reliability.json", tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
           "TMPDIR": str(scratch)}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "reliability.py"), "--quick", "--loads", "2x2",
                           "--settle", "60", "--out", str(out)],
                          check=False, capture_output=True, text=True, env=env, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    parts = json.loads(out.read_text())["parts"]
    assert set(parts) == {"load", "kill", "disk", "memory"}
    runs = [parts["load"]["2x2"], parts["kill"], parts["memory"]]
    if "skipped" not in parts["disk"]:
        runs.append(parts["disk"])
    for run in runs:
        assert "error" not in run, run
        assert KEYS <= set(run), run
        assert run["lost"] == 0 and run["duplicated"] == 0 and run["stuck"] == 0, run
    assert parts["load"]["2x2"]["acknowledged"] == 4
    assert all(run["5xx"] == 0 for run in runs[:3]), runs
    assert parts["kill"]["acknowledged"] > 0
    assert parts["memory"]["acknowledged"] == 0 and parts["memory"]["refused"] == parts["memory"]["uploads"]
    if "skipped" not in parts["disk"]:  # a full disk answers 503/507, never 500, and recovers
        assert parts["disk"]["500"] == 0 and parts["disk"]["recovered"], parts["disk"]
    assert len(done.stdout.strip().splitlines()) == 4  # one summary line per part (one load run)
    assert not list(scratch.iterdir())  # the temporary folder (data folders, logs) is gone
