"""Segmentation speed and memory on this machine's CPU, written as JSON.

Measures, for the ``disc`` and ``lesion`` models: training images/s (forward,
backward and augmentation at batch 8), inference latency p50/p95 at batch 1
and throughput at batch 8 for PyTorch eager and ONNX Runtime, each registered
architecture's PyTorch latency (why `compact` is the default), and each
backend's peak resident memory (each backend runs in its own process so the
figure is its own). Bundled ONNX models are used when present, else the
untrained compact network is exported first (same graph, same speed).

    python benchmarks/segmentation.py --out benchmarks/results/segmentation.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import in_process as _in_process
from _timing import peak_mb as _peak_mb
from _timing import time_calls as _time_calls

from medscreen.inference.card import load_card

TASKS = {"disc": 3, "lesion": 1}


def _bench_torch(task: str, size: int, norm: str, repeats: int, queue: mp.Queue) -> None:
    import torch

    from medscreen.models.registry import create_model
    from medscreen.training.data import CachedImage, SegmentationDataset
    from medscreen.transforms.presets import segmentation_augment

    torch.manual_seed(0)
    c = TASKS[task]
    net = create_model(task, "compact", norm=norm)
    # training throughput: augmentation + forward + backward + Adam step at batch 8
    items = [CachedImage(np.random.randint(0, 255, (size, size, c), np.uint8), np.zeros((size, size), bool), "x")]
    ds = SegmentationDataset(items, size, augment=segmentation_augment(task, 0))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    steps, t0 = 0, 0.0
    for i in range(repeats // 4 + 2):
        if i == 1:
            t0 = time.perf_counter()
        batch = [ds[j % len(ds)] for j in range(8)]
        x = torch.stack([b["image"] for b in batch])
        y = torch.stack([b["label"] for b in batch])
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(net(x), y).backward()
        opt.step()
        steps += i >= 1
    train_ips = 8 * steps / (time.perf_counter() - t0)
    net.eval()
    with torch.no_grad():
        timing = _time_calls(net, torch.rand(1, c, size, size), torch.rand(8, c, size, size), repeats)
    queue.put({"train_images_per_s": train_ips, **timing, "peak_rss_mb": _peak_mb(),
               "threads": torch.get_num_threads()})


def _bench_onnx(path: str, size: int, c: int, repeats: int, queue: mp.Queue) -> None:
    from medscreen.inference.runtime import OnnxModel

    model = OnnxModel(Path(path))
    x1 = np.random.rand(1, c, size, size).astype(np.float32)
    x8 = np.random.rand(8, c, size, size).astype(np.float32)
    queue.put({**_time_calls(model, x1, x8, repeats), "peak_rss_mb": _peak_mb(),
               "model_sha256": model.sha256, "model_mb": os.path.getsize(path) / 1e6})


def _bench_archs(size: int, repeats: int, queue: mp.Queue) -> None:
    """PyTorch batch-1 latency of every registered segmentation architecture (why `compact` is the default)."""
    import torch

    from medscreen.models.registry import SEGMENTATION_ARCHS, create_model

    out = {}
    with torch.no_grad():
        for arch in SEGMENTATION_ARCHS:
            net = create_model("disc", arch).eval()
            n = repeats if arch == "compact" else max(3, repeats // 8)
            out[arch] = {**_time_calls(net, torch.rand(1, 3, size, size), torch.rand(8, 3, size, size), n),
                         "parameters": sum(p.numel() for p in net.parameters())}
    queue.put(out)


def _onnx_path(task: str, size: int, tmp: Path) -> tuple[str, bool]:
    from medscreen.inference.runtime import bundled_model_path

    try:
        return str(bundled_model_path(task)), True
    except Exception:
        import torch

        from medscreen.inference.export import export_onnx
        from medscreen.models.registry import create_model

        torch.manual_seed(0)
        path = tmp / f"{task}.onnx"
        export_onnx(create_model(task, "compact"), path, in_channels=TASKS[task], input_size=size)
        path.with_suffix(".json").write_text(json.dumps({"task": task, "input_size": size, "in_channels": TASKS[task]}))
        return str(path), False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/segmentation.json"))
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "input_size": args.size,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for task, c in TASKS.items():
            path, bundled = _onnx_path(task, args.size, Path(tmp))
            norm = load_card(Path(path).with_suffix(".json")).norm  # same network as the shipped model
            torch_r = _in_process(_bench_torch, task, args.size, norm, args.repeats)
            onnx_r = _in_process(_bench_onnx, path, args.size, c, args.repeats)
            result[task] = {
                "bundled_model": bundled,
                "norm": norm,
                "train_images_per_s": torch_r.pop("train_images_per_s"),
                "torch": torch_r,
                "onnxruntime": onnx_r,
                "onnx_speedup_p50": torch_r["batch1"]["p50_ms"] / onnx_r["batch1"]["p50_ms"],
            }
    result["architectures_torch"] = _in_process(_bench_archs, args.size, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
