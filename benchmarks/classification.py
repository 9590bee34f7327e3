"""Classifier speed and memory on this machine's CPU, written as JSON.

For each bundled classifier (``glaucoma``, ``progression``, ``breast-class``):
ONNX Runtime and PyTorch eager latency p50/p95 at batch 1 and throughput at
batch 8, each backend's peak resident memory (own process), and the
PyTorch batch-1 latency of every registered architecture at the same input
size (why ``compact`` is the default).

    python benchmarks/classification.py --out benchmarks/results/classification.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
from pathlib import Path

import numpy as np
from _timing import in_process, peak_mb, time_calls

from medscreen.inference.card import ModelCard, load_card

TASKS = ("glaucoma", "progression", "breast-class")


def _feeds(card: ModelCard, batch: int) -> dict[str, np.ndarray]:
    params, size, c = card.params, card.input_size, card.in_channels
    feeds = {}
    if params.inputs in ("image", "fused"):
        feeds["image"] = np.random.rand(batch, c, size, size).astype(np.float32)
    if params.inputs in ("clinical", "fused"):
        feeds["clinical"] = np.random.rand(batch, len(params.clinical_features)).astype(np.float32)
    return feeds


def _bench_onnx(path: str, repeats: int, queue: mp.Queue) -> None:
    from medscreen.inference.classification import onnx_classifier
    from medscreen.inference.runtime import OnnxModel

    model = OnnxModel(Path(path), threads=1)
    classifier = onnx_classifier(model)
    queue.put({**time_calls(classifier.run, _feeds(model.card, 1), _feeds(model.card, 8), repeats),
               "peak_rss_mb": peak_mb(), "model_mb": os.path.getsize(path) / 1e6, "model_sha256": model.sha256})


def _bench_torch(card: ModelCard, repeats: int, queue: mp.Queue) -> None:
    import torch

    from medscreen.inference.torch_backend import build_network

    torch.set_num_threads(1)
    net = build_network(card, card.task).eval()

    def run(feeds: dict) -> None:
        with torch.no_grad():
            net(*(torch.as_tensor(feeds[k]) if k in feeds else None for k in ("image", "clinical")))

    queue.put({**time_calls(run, _feeds(card, 1), _feeds(card, 8), repeats), "peak_rss_mb": peak_mb()})


def _bench_archs(size: int, repeats: int, queue: mp.Queue) -> None:
    import torch

    from medscreen.models.registry import CLASSIFICATION_ARCHS, create_model

    torch.set_num_threads(1)
    out = {}
    with torch.no_grad():
        for arch in CLASSIFICATION_ARCHS:
            s = max(size, 75) if arch == "inception-v3" else size
            net = create_model("glaucoma", arch, input_size=s).eval()
            n = repeats if arch == "compact" else max(3, repeats // 8)
            out[arch] = {**time_calls(net, torch.rand(1, 3, s, s), torch.rand(8, 3, s, s), n), "input_size": s,
                         "parameters": sum(p.numel() for p in net.parameters())}
    queue.put(out)


def main() -> None:
    from medscreen.inference.runtime import bundled_model_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/classification.json"))
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    result: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                "python": platform.python_version()}, "threads": 1}
    for task in TASKS:
        path = bundled_model_path(task)
        card = load_card(path.with_suffix(".json"))
        onnx_r = in_process(_bench_onnx, str(path), args.repeats)
        torch_r = in_process(_bench_torch, card, args.repeats)
        result[task] = {"input_size": card.input_size, "inputs": card.params.inputs,
                        "onnxruntime": onnx_r, "torch": torch_r,
                        "onnx_speedup_p50": torch_r["batch1"]["p50_ms"] / onnx_r["batch1"]["p50_ms"]}
    size = load_card(bundled_model_path("glaucoma").with_suffix(".json")).input_size
    result["architectures_torch"] = in_process(_bench_archs, size, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
