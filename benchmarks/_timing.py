"""Timing helpers shared by the benchmark scripts (run as scripts: ``python benchmarks/X.py``)."""

from __future__ import annotations

import multiprocessing as mp
import resource
import time

import numpy as np

__all__ = ["in_process", "peak_mb", "stats", "time_calls"]


def stats(times: list[float]) -> dict[str, float]:
    ms = np.array(times) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)), "n": len(times)}


def time_calls(fn, x1, x8, repeats: int) -> dict:
    """Latency of ``fn(x1)`` (batch 1, after warm-up) and images/s of ``fn(x8)``."""
    for _ in range(3):
        fn(x1)
    lat = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x1)
        lat.append(time.perf_counter() - t)
    n8 = max(2, repeats // 8)
    t = time.perf_counter()
    for _ in range(n8):
        fn(x8)
    return {"batch1": stats(lat), "batch8_images_per_s": 8 * n8 / (time.perf_counter() - t)}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_process(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result
