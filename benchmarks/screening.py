"""End-to-end screening speed on this machine's CPU, per stage and per backend, written as JSON.

For each modality (``fundus``: scikit-image's retina photograph saved as a
JPEG; ``ultrasound``: a BUSI image when the data folder has one, else a
generated speckle image) and each backend (``onnxruntime``, ``torch``), in a
process of its own (so peak memory is the backend's own):

* ``end_to_end``: latency p50/p95 of ``Screener.screen(path)`` for one image
  (file read and decode included, models already loaded); ``end_to_end_cpu``:
  the process's CPU time per image (robust to other work on the machine);
* ``stages``: p50/p95 of each stage the result records (decode, quality, disc,
  crop, glaucoma, progression / lesion, breast_class);
* ``networks``: p50/p95 of each network alone on one ``1×C×S×S`` batch;
* ``batch``: images/s over a batch of files, decoding in the main thread
  (``workers_0``) and in 2 threads ahead of the models (``workers_2``);
* ``peak_rss_mb``, ``load_models_ms``, and (``--profile``) the functions where
  the time goes (cProfile, own time per image).

``onnx_speedup`` gives PyTorch time / ONNX Runtime time for the end-to-end
p50, the model stages' p50 sum, and each network. ``machine.loadavg`` shows
whether other work shared the CPU while measuring.

    python benchmarks/screening.py --out benchmarks/results/screening.json
"""

from __future__ import annotations

import argparse
import cProfile
import glob
import io
import json
import multiprocessing as mp
import os
import platform
import pstats
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import in_process, peak_mb, stats

BACKENDS = ("onnxruntime", "torch")
MODEL_STAGES = {"fundus": ("disc", "glaucoma", "progression"), "ultrasound": ("lesion", "breast_class")}
#: p50 targets on one thread (issues 10 and 11: fundus pipeline ≤ 100 ms, ultrasound ≤ 60 ms)
TARGET_P50_MS = {"fundus": 100.0, "ultrasound": 60.0}


def _ultrasound_like(h: int = 450, w: int = 560) -> np.ndarray:
    """Sideways speckle, tissue layers and a dark lesion (used only when no BUSI image is at hand)."""
    from scipy import ndimage

    rng = np.random.default_rng(0)
    env = np.abs(ndimage.gaussian_filter(rng.normal(size=(h, w)), (1.5, 5))
                 + 1j * ndimage.gaussian_filter(rng.normal(size=(h, w)), (1.5, 5)))
    yy, xx = np.mgrid[:h, :w]
    tissue = 0.6 + 0.4 * np.sin(yy / 18.0 + 0.3 * np.sin(xx / 60.0))
    tissue[((yy - 0.55 * h) / (0.12 * h)) ** 2 + ((xx - 0.5 * w) / (0.2 * w)) ** 2 < 1] = 0.12
    grey = 255 * np.log1p(8 * env * tissue / env.mean()) / np.log1p(24)
    grey[:, : w // 12] = grey[:, -w // 12 :] = 0
    return np.clip(grey, 0, 255).astype(np.uint8)


def _inputs(folder: Path) -> dict[str, dict]:
    """Write the benchmark images into ``folder``; say what they are."""
    from PIL import Image
    from skimage.data import retina

    from medscreen.config import default_data_dir

    fundus = folder / "retina.jpg"
    Image.fromarray(retina()).save(fundus, quality=95)
    busi = sorted(glob.glob(str(default_data_dir() / "busi" / "*" / "malignant" / "malignant (1*).png")))
    ultrasound = folder / "ultrasound.png"
    if busi:
        ultrasound.write_bytes(Path(busi[0]).read_bytes())
        us_what = f"BUSI {Path(busi[0]).name}"
    else:
        Image.fromarray(_ultrasound_like()).save(ultrasound)
        us_what = "generated speckle image (no BUSI found)"
    out = {}
    for modality, path, what in (("fundus", fundus, "skimage.data.retina() as JPEG (quality 95)"),
                                 ("ultrasound", ultrasound, us_what)):
        with Image.open(path) as im:
            out[modality] = {"file": str(path), "image": what, "size": list(im.size), "bytes": path.stat().st_size}
    return out


def _network_times(screener, backend: str, modality: str, threads: int, repeats: int) -> dict:
    """p50/p95 of each network alone on one batch of its input size (loaded as the Screener loads it)."""
    from medscreen.inference.runtime import OnnxModel
    from medscreen.inference.torch_backend import load_torch_model

    out = {}
    rng = np.random.default_rng(0)
    for task in ("disc", "glaucoma", "progression") if modality == "fundus" else ("lesion", "breast-class"):
        path = screener.model_path(task)
        model = load_torch_model(path) if backend == "torch" else OnnxModel(path, threads=threads, spinning=False)
        s, c = model.spec.input_size, model.spec.in_channels
        batch = rng.random((1, c, s, s), dtype=np.float32)
        if task in ("disc", "lesion"):
            def call(b=batch, m=model):
                return m(b)
        elif backend == "torch":
            def call(b=batch, m=model):
                return m.run({"image": b})
        else:
            def call(b=batch, m=model):
                return m.session.run(None, {"image": b})
        for _ in range(3):
            call()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        out[task] = stats(times)
    return out


def _profile(screener, path: str, n: int) -> list[dict]:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        screener.screen(path)
    prof.disable()
    st = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (file, line, fn), (_, ncalls, tottime, cumtime, _) in st.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{Path(file).name}:{line}({fn})", "own_ms_per_image": 1000 * tottime / n,
                     "cumulative_ms_per_image": 1000 * cumtime / n, "calls_per_image": ncalls / n})
    rows.sort(key=lambda r: -r["own_ms_per_image"])
    return [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in rows[:15]]


def _outputs(result) -> dict[str, float]:
    """The numbers a result carries, flat, to compare the backends."""
    out: dict[str, float] = {}
    if result.glaucoma:
        out["glaucoma_probability"] = result.glaucoma.probability
    if result.progression:
        out["progression_probability"] = result.progression.probability
    if result.disc and result.disc.found:
        out["disc_diameter_px"] = result.disc.diameter_px
    if result.lesion:
        out["lesion_area_px"] = result.lesion.area_px
    if result.breast_class:
        out.update({f"p_{k}": v for k, v in result.breast_class.probabilities.items()})
    return out


def _bench(backend: str, modality: str, path: str, repeats: int, threads: int, batch: int, profile: bool,
           models: str | None, queue: mp.Queue) -> None:
    from medscreen.pipelines.screening import Screener, read_inputs

    if backend == "torch":
        # OpenMP worker threads spin by default; with other processes on the cores that makes
        # 2-thread PyTorch ~30× slower here (1.3 s vs 44 ms per disc pass). ONNX Runtime gets
        # the same treatment (spinning off, see OnnxModel), so the comparison stays fair.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import torch

        torch.set_num_threads(threads)
    tasks = ("disc", "glaucoma", "progression", "lesion", "breast-class")
    paths = {t: Path(models) / f"{t}.onnx" for t in tasks} if models else None
    screener = Screener(backend, threads=threads, models=paths)
    t = time.perf_counter()
    first = screener.screen(path)
    load_ms = first.timings_ms.get("load_models", 0.0)
    first_ms = (time.perf_counter() - t) * 1000
    for _ in range(2):
        screener.screen(path)
    wall, cpu, per_stage = [], [], {}
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        result = screener.screen(path)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        for stage, ms in result.timings_ms.items():
            per_stage.setdefault(stage, []).append(ms / 1000)
    out: dict = {
        "end_to_end": stats(wall),
        # CPU time of this process per image (all its threads): what one image costs whatever else
        # runs on the machine; with --threads 1 it is the wall time an idle machine would show
        "end_to_end_cpu": stats(cpu),
        "stages": {k: stats(v) for k, v in per_stage.items() if k != "total"},
        "networks": _network_times(screener, backend, modality, threads, repeats),
        "load_models_ms": load_ms, "first_image_ms": first_ms,
        "result": {"advice": result.advice, "gradable": result.gradable,
                   "models": {k: v.sha256[:12] for k, v in result.models.items()}, "outputs": _outputs(result)},
    }
    out["model_stages_p50_ms"] = sum(out["stages"][s]["p50_ms"] for s in MODEL_STAGES[modality]
                                     if s in out["stages"])
    items = [(f"img{i}{Path(path).suffix}", path) for i in range(batch)]
    out["batch"] = {"images": batch}
    for workers in (0, 2):
        t = time.perf_counter()
        if workers == 0:
            for _, item in items:
                screener.screen(item)
        else:
            for _, future in read_inputs(items, workers=workers):
                screener.screen(future.result())
        out["batch"][f"workers_{workers}_images_per_s"] = batch / (time.perf_counter() - t)
    if profile:
        out["profile_top"] = _profile(screener, path, max(5, repeats // 3))
    out["peak_rss_mb"] = peak_mb()
    queue.put(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/screening.json"))
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="Intra-op threads of each backend (1: faster than 2 "
                        "while other processes share the 2 cores, as during training).")
    parser.add_argument("--batch", type=int, default=16, help="Images in the throughput batch.")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="Skip the cProfile pass.")
    parser.add_argument("--models", type=Path, default=None,
                        help="Folder of TASK.onnx (+ .json card, .pt) to measure instead of the bundled models.")
    args = parser.parse_args()
    result: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                "python": platform.python_version(), "loadavg_start": os.getloadavg()},
                    "threads": args.threads, "repeats": args.repeats, "targets_p50_ms": TARGET_P50_MS,
                    "models": str(args.models) if args.models else "bundled"}
    with tempfile.TemporaryDirectory() as tmp:
        result["inputs"] = _inputs(Path(tmp))
        for modality, info in result["inputs"].items():
            runs = {b: in_process(_bench, b, modality, info["file"], args.repeats, args.threads, args.batch,
                                  args.profile, str(args.models) if args.models else None) for b in BACKENDS}
            ort, pt = runs["onnxruntime"], runs["torch"]
            result[modality] = {
                **runs,
                "onnx_speedup": {
                    "end_to_end_p50": pt["end_to_end"]["p50_ms"] / ort["end_to_end"]["p50_ms"],
                    "model_stages_p50": pt["model_stages_p50_ms"] / ort["model_stages_p50_ms"],
                    "networks_p50": {k: pt["networks"][k]["p50_ms"] / v["p50_ms"]
                                     for k, v in ort["networks"].items()},
                },
                "target_met": ort["end_to_end"]["p50_ms"] <= TARGET_P50_MS[modality],
                # |ONNX Runtime − PyTorch| per output on the same image (fp32 ONNX vs fp16-stored .pt weights)
                "backend_abs_difference": {
                    k: abs(v - pt["result"]["outputs"][k])
                    for k, v in ort["result"]["outputs"].items() if k in pt["result"]["outputs"]
                },
                "same_advice": ort["result"]["advice"] == pt["result"]["advice"],
            }
    result["machine"]["loadavg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({m: {"onnxruntime_p50_ms": result[m]["onnxruntime"]["end_to_end"]["p50_ms"],
                          "torch_p50_ms": result[m]["torch"]["end_to_end"]["p50_ms"],
                          "onnx_speedup": result[m]["onnx_speedup"], "target_met": result[m]["target_met"]}
                      for m in MODEL_STAGES}, indent=2))


if __name__ == "__main__":
    main()
