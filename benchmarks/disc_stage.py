"""The disc stage alone (``segment_disc`` on scikit-image's retina), one version against another, written as JSON.

``benchmarks/screening.py`` times the whole pipeline, where a few milliseconds
of the disc stage drown in this machine's drift. Here each checkout's
``src`` runs in a process of its own, one ONNX Runtime thread, the rounds
alternating between checkouts (A B A B …) so that drift hits both alike; each
round gives the CPU-time p50 of ``--repeats`` calls after warm-up, and the
outline it found (centre, diameter, pixels), so a speed-up that changed the
answer shows.

    python benchmarks/disc_stage.py --src src --src /path/to/other/checkout/src --out benchmarks/results/disc_stage.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import json, sys, time
import numpy as np
import medscreen
from skimage import data
from medscreen.inference.runtime import OnnxModel
from medscreen.inference.segmentation import segment_disc
model = OnnxModel(sys.argv[1], threads=1)
rgb = data.retina()
for _ in range(3):
    out = segment_disc(rgb, model, model.spec)
times = []
for _ in range(int(sys.argv[2])):
    start = time.process_time()
    segment_disc(rgb, model, model.spec)
    times.append((time.process_time() - start) * 1000)
geo = out.geometry()
print(json.dumps({"package": medscreen.__file__, "cpu_p50_ms": float(np.median(times)), "cpu_min_ms": float(min(times)),
                  "centre_x": round(geo.cx, 2), "centre_y": round(geo.cy, 2), "diameter": round(geo.diameter, 2),
                  "mask_pixels": int(out.mask.sum())}))
"""


def run_once(src: Path, model: Path, repeats: int) -> dict:
    """One round: a fresh process importing medscreen from ``src``."""
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(model), str(repeats)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0:
        raise SystemExit(f"the disc stage from {src} failed:\n{proc.stderr.strip().splitlines()[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", action="append", type=Path, help="a checkout's src folder (repeat to compare)")
    parser.add_argument("--model", type=Path, default=REPO / "src" / "medscreen" / "weights" / "disc.onnx")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "disc_stage.json")
    args = parser.parse_args()
    sources = [s.resolve() for s in (args.src or [REPO / "src"])]
    for src in sources:
        if not (src / "medscreen" / "__init__.py").is_file():
            raise SystemExit(f"{src} holds no medscreen package; give a checkout's src folder with --src")
    rounds: dict[str, list[dict]] = {str(s): [] for s in sources}
    for _ in range(args.rounds):
        for src in sources:
            rounds[str(src)].append(run_once(src, args.model, args.repeats))
    report = {"model": str(args.model), "repeats": args.repeats, "rounds": rounds,
              "cpu_p50_ms_by_round": {s: [round(r["cpu_p50_ms"], 1) for r in rs] for s, rs in rounds.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    for src, values in report["cpu_p50_ms_by_round"].items():
        print(f"{src}: CPU p50 {values} ms; outline {rounds[src][-1]}")


if __name__ == "__main__":
    main()
