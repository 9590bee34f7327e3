"""Upload-to-result latency of the clinic server with the bundled models (p50/p95, 1 and 10 concurrent uploads).

An in-process server (uvicorn in a thread on a free port, SQLite in a
temporary data folder) screens skimage's retina photo as a JPEG. Each sample
is the time from starting the upload to seeing ``done`` when polling every
50 ms. Writes JSON.

    python benchmarks/clinic_latency.py --out benchmarks/results/clinic_latency.json
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import uvicorn


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _retina_jpeg() -> bytes:
    import skimage.data
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(skimage.data.retina()).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _setup(home: Path) -> tuple[str, int]:
    from medscreen.store.database import database_url, make_engine, session_factory, upgrade
    from medscreen.store.models import Clinic, Patient, Role
    from medscreen.store.users import create_api_token, create_user

    engine = make_engine(database_url(home))
    upgrade(engine)
    with session_factory(engine)() as s:
        clinic = Clinic(name="Bench clinic")
        patient = Patient(clinic=clinic, clinic_ref="BENCH-1", name="Bench Patient")
        s.add_all([clinic, patient])
        user = create_user(s, "bench.worker", "bench password 123", Role.HEALTH_WORKER, clinic)
        token = create_api_token(s, user, "benchmark")
        s.commit()
        patient_id = patient.id
    engine.dispose()
    return token, patient_id


def _one(base: str, headers: dict[str, str], visit_id: int, data: bytes) -> float:
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        t = time.perf_counter()
        r = client.post(f"/api/v1/visits/{visit_id}/captures", files={"file": ("retina.jpg", data, "image/jpeg")},
                        data={"eye": "OD"})
        r.raise_for_status()
        url = r.json()["url"]
        while True:
            status = client.get(url).json()["status"]
            if status == "done":
                return (time.perf_counter() - t) * 1000
            if status == "failed":
                raise RuntimeError(f"screening failed: {client.get(url).json()['error']}")
            time.sleep(0.05)


def _stats(samples: list[float]) -> dict[str, float]:
    q = np.percentile(samples, [50, 95])
    return {"n": len(samples), "p50_ms": round(float(q[0]), 1), "p95_ms": round(float(q[1]), 1),
            "mean_ms": round(statistics.fmean(samples), 1), "max_ms": round(max(samples), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/clinic_latency.json"))
    parser.add_argument("--workers", type=int, default=2, help="screening threads of the server")
    parser.add_argument("--rounds", type=int, default=10, help="sequential uploads (1 concurrent)")
    parser.add_argument("--batches", type=int, default=2, help="batches of 10 concurrent uploads")
    args = parser.parse_args()

    from medscreen.server import create_app

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        token, patient_id = _setup(home)
        app = create_app(home, workers=args.workers)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               access_log=False))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
        try:
            with httpx.Client(base_url=base, headers=headers) as client:
                visit_id = client.post("/api/v1/visits", json={"patient_id": patient_id, "modality": "fundus"}).json()["id"]
            data = _retina_jpeg()
            warm = _one(base, headers, visit_id, data)  # loads the models
            single = [_one(base, headers, visit_id, data) for _ in range(args.rounds)]
            concurrent: list[float] = []
            for _ in range(args.batches):
                with ThreadPoolExecutor(10) as pool:
                    concurrent += list(pool.map(lambda _: _one(base, headers, visit_id, data), range(10)))
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    report = {
        "benchmark": "clinic_latency",
        "what": "upload start → screening done (polled every 50 ms), bundled ONNX models, skimage retina JPEG",
        "image_bytes": len(data), "server_workers": args.workers, "first_upload_with_model_load_ms": round(warm, 1),
        "concurrency_1": _stats(single), "concurrency_10": _stats(concurrent),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
