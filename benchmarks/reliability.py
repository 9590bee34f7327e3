"""Reliability of the clinic app under load, kill -9, a full disk and huge decodes (issue 13); writes JSON.

Each part starts a real server (``python -m medscreen serve``, 2 screening
threads, the bundled models) in its own process group on a free loopback port
with a fresh data folder under one temporary folder, and talks to it through
the API with a health worker's token. Every upload is a different image with
its own ``Idempotency-Key``; a client whose connection breaks retries with the
same key until the server answers again. Counts per part:

- acknowledged: uploads answered 2xx;
- lost: acknowledged but absent afterwards (the screening answers 404);
- duplicated: captures beyond the first of one image (one upload recorded twice);
- stuck: acknowledged screenings neither done nor failed after the settle timeout;
- 5xx: answers 500 to 599 (with a full disk 503/507 are expected: ``500`` counts plain 500s apart).

Parts: ``load`` (10 × 10 and 20 × 5 concurrent uploads), ``kill`` (SIGKILL the
server's process group while uploads run, restart, three times), ``disk`` (the
data folder on a small tmpfs, filled; needs root, else skipped with the reason)
and ``memory`` (8 concurrent small PNGs of 7,700 × 7,700 pixels; peak VmHWM of
the server and its children).

    python benchmarks/reliability.py                # all parts → benchmarks/results/reliability.json
    python benchmarks/reliability.py --quick        # a short version (about a minute)
    python benchmarks/reliability.py --parts load,memory --loads 4x3
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench password 123 correct"
PARTS = ("load", "kill", "disk", "memory")
TERMINAL = {"done", "failed"}


def _fundus_base() -> np.ndarray:
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from tests_support import fundus_like
    finally:
        sys.path.remove(str(ROOT / "tests"))
    return fundus_like(600, 800)  # large enough to pass the input check, so every model runs (advice refer)


class Images:
    """Small fundus-like PNGs, each different (a counter written into a corner), so each is its own blob."""

    def __init__(self) -> None:
        self.base, self.n, self.lock = _fundus_base(), 0, threading.Lock()

    def next(self) -> bytes:
        with self.lock:
            self.n += 1
            n = self.n
        rgb = self.base.copy()
        rgb[0, :8] = np.frombuffer(n.to_bytes(24, "little"), np.uint8).reshape(8, 3)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="PNG")
        return buf.getvalue()


def huge_png(side: int = 7700) -> bytes:
    """A ``side`` × ``side`` grey PNG that compresses to tens of KB and decodes to ``side``² pixels."""
    buf = io.BytesIO()
    Image.new("L", (side, side), 40).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "src"), env.get("PYTHONPATH", "")] if p)
    env.update({"MEDSCREEN_SERVER__STORAGE_RETRY_S": "2", "MEDSCREEN_SERVER__ACCESS_LOG": "false"})
    env.update(extra or {})
    return env


def _cli(home: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "medscreen", *args, "--data-dir", str(home)], input=stdin, check=False,
                          capture_output=True, text=True, env=_env(), timeout=120)
    if done.returncode:
        raise RuntimeError(f"medscreen {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


class Server:
    """``medscreen serve`` in its own process group; ``kill9`` SIGKILLs the group, ``start`` (re)starts it."""

    def __init__(self, home: Path, log: Path, workers: int = 2) -> None:
        self.home, self.log, self.workers, self.port = home, log, workers, _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "medscreen", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--data-dir", str(self.home), "--workers", str(self.workers)],
                stdout=log, stderr=subprocess.STDOUT, env=_env(), start_new_session=True, cwd=self.home)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                httpx.get(self.base + "/api/v1/patients", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError(f"server not up after {timeout} s")

    def pids(self) -> list[int]:
        """The server and its children (by process group)."""
        if self.proc is None:
            return []
        out = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if os.getpgid(int(d.name)) == self.proc.pid:
                        out.append(int(d.name))
                except OSError:
                    pass
        return out

    def peak_rss_mb(self) -> float:
        """Sum of VmHWM (peak resident memory) over the server's processes, in MB."""
        total = 0
        for pid in self.pids():
            try:
                m = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
                total += int(m.group(1)) if m else 0
            except OSError:
                pass
        return round(total / 1024, 1)

    def kill9(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            pass
        self.kill9()


@dataclass
class Tally:
    """What the clients saw."""

    acknowledged: dict[str, int] = field(default_factory=dict)  # idempotency key → screening id
    codes: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, key: str, r: httpx.Response) -> None:
        with self.lock:
            self.codes[r.status_code] += 1
            if 200 <= r.status_code < 300:
                sid = r.json()["screening_id"]
                if key in self.acknowledged and self.acknowledged[key] != sid:
                    self.codes[-1] += 1  # the same key answered with another screening (not an HTTP code)
                self.acknowledged[key] = sid


@dataclass
class Clinic:
    server: Server
    token: str
    visit_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def setup_clinic(home: Path, log: Path) -> Clinic:
    """Init the data folder, a health worker with a token, start the server, and make a patient and a visit."""
    home.mkdir(parents=True, exist_ok=True)
    _cli(home, "init")
    _cli(home, "users", "create", "bench.nurse", "--role", "health_worker", "--clinic", "Bench", "--password-stdin",
         stdin=PASSWORD + "\n")
    token = re.search(r"msk_\S+", _cli(home, "users", "token", "bench.nurse", "--name", "reliability"))
    if token is None:
        raise RuntimeError("no token in the output of `medscreen users token`")
    server = Server(home, log)
    server.start()
    headers = {"Authorization": f"Bearer {token.group(0)}"}
    with httpx.Client(base_url=server.base, headers=headers, timeout=30) as c:
        patient = c.post("/api/v1/patients", json={"name": "Bench Patient", "clinic_ref": "BENCH-1"})
        patient.raise_for_status()
        visit = c.post("/api/v1/visits", json={"patient_id": patient.json()["id"], "modality": "fundus"})
        visit.raise_for_status()
    return Clinic(server, token.group(0), visit.json()["id"])


def upload(clinic: Clinic, tally: Tally, data: bytes, *, retry_s: float = 0, key: str | None = None) -> int | None:
    """One upload with its own Idempotency-Key; on a broken connection, retry with the same key for ``retry_s``."""
    key = key or uuid.uuid4().hex
    deadline = time.monotonic() + retry_s
    while True:
        try:
            r = httpx.post(clinic.server.base + f"/api/v1/visits/{clinic.visit_id}/captures",
                           headers={**clinic.headers, "Idempotency-Key": key},
                           files={"file": ("eye.png", data, "image/png")}, data={"eye": "OD"}, timeout=120)
        except httpx.TransportError:
            with tally.lock:
                tally.transport_errors += 1
            if time.monotonic() > deadline:
                return None
            with tally.lock:
                tally.retries += 1
            time.sleep(0.3)
            continue
        tally.answer(key, r)
        return r.status_code


def run_threads(n: int, target: Any) -> None:
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def settle(clinic: Clinic, tally: Tally, timeout: float) -> dict[str, Any]:
    """Wait until every acknowledged screening is done or failed (or ``timeout``); count lost, stuck, duplicated."""
    ids = sorted(set(tally.acknowledged.values()))
    status: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=clinic.server.base, headers=clinic.headers, timeout=30) as c:
        while True:
            for sid in ids:
                if status.get(sid) in TERMINAL or status.get(sid) == "lost":
                    continue
                try:
                    r = c.get(f"/api/v1/screenings/{sid}")
                except httpx.TransportError:
                    continue
                status[sid] = "lost" if r.status_code == 404 else r.json()["status"] if r.is_success else f"http {r.status_code}"
            if all(status.get(s) in TERMINAL | {"lost"} for s in ids) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    states = Counter(status.values())
    return {"lost": states.get("lost", 0), "stuck": sum(1 for s in ids if status.get(s) not in TERMINAL | {"lost"}),
            "done": states.get("done", 0), "failed": states.get("failed", 0),
            **from_database(clinic.server.home)}


def from_database(home: Path) -> dict[str, Any]:
    """Captures beyond the first of one image (every upload is a different image), and the advice given."""
    db = sqlite3.connect(f"file:{home / 'medscreen.db'}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute("SELECT COUNT(*) FROM captures GROUP BY image_id HAVING COUNT(*) > 1").fetchall()
        advice = db.execute("SELECT COALESCE(advice, status), COUNT(*) FROM screenings GROUP BY 1").fetchall()
    finally:
        db.close()
    return {"duplicated": sum(n - 1 for (n,) in rows), "advice_in_database": {str(a): n for a, n in advice}}


def counts(tally: Tally, settled: dict[str, Any], server: Server, t0: float) -> dict[str, Any]:
    return {"acknowledged": len(tally.acknowledged), "lost": settled["lost"], "duplicated": settled["duplicated"],
            "stuck": settled["stuck"], "5xx": sum(n for c, n in tally.codes.items() if 500 <= c < 600),
            "500": tally.codes.get(500, 0), "key_answered_twice_differently": tally.codes.get(-1, 0),
            "done": settled["done"], "failed": settled["failed"], "advice_in_database": settled["advice_in_database"],
            "codes": {str(c): n for c, n in sorted(tally.codes.items()) if c > 0},
            "transport_errors": tally.transport_errors, "retries": tally.retries,
            "peak_rss_mb": server.peak_rss_mb(), "seconds": round(time.perf_counter() - t0, 1)}


def part_load(tmp: Path, images: Images, loads: list[tuple[int, int]], settle_s: float) -> dict[str, Any]:
    clinic = setup_clinic(tmp / "load", tmp / "load.log")
    out: dict[str, Any] = {}
    try:
        for threads, each in loads:
            t0, tally = time.perf_counter(), Tally()
            run_threads(threads, lambda _i, t=tally, k=each: [upload(clinic, t, images.next()) for _ in range(k)])
            out[f"{threads}x{each}"] = counts(tally, settle(clinic, tally, settle_s), clinic.server, t0)
    finally:
        clinic.server.stop()
    return out


def part_kill(tmp: Path, images: Images, bursts: int, threads: int, kill_after_s: float,
              settle_s: float) -> dict[str, Any]:
    clinic = setup_clinic(tmp / "kill", tmp / "kill.log")
    t0, tally, rounds = time.perf_counter(), Tally(), []
    try:
        for _ in range(bursts):
            stop = threading.Event()

            def client(_i: int, stop: threading.Event = stop) -> None:
                while not stop.is_set():
                    upload(clinic, tally, images.next(), retry_s=60)

            workers = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(threads)]
            for w in workers:
                w.start()
            time.sleep(kill_after_s)
            before = len(tally.acknowledged)
            clinic.server.kill9()
            time.sleep(0.5)
            clinic.server.start()
            time.sleep(0.5)
            stop.set()
            for w in workers:
                w.join(timeout=120)
            rounds.append({"acknowledged_before_kill": before, "acknowledged_after_retries": len(tally.acknowledged)})
        result = counts(tally, settle(clinic, tally, settle_s), clinic.server, t0)
    finally:
        clinic.server.stop()
    return {**result, "bursts": rounds}


def _fill(folder: Path) -> Path:
    """Write zeros into ``folder`` until its filesystem is full (1 MiB, then 4 KiB writes)."""
    filler = folder / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096):
            chunk = b"\0" * size
            try:
                while os.write(fd, chunk):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def part_disk(tmp: Path, images: Images, uploads: int, settle_s: float) -> dict[str, Any]:
    if os.geteuid() != 0:
        return {"skipped": "a small tmpfs for the data folder needs root (mount -t tmpfs); not root here"}
    mnt = tmp / "disk"
    mnt.mkdir()
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mnt)], check=False, capture_output=True, text=True)
    if m.returncode:
        return {"skipped": f"mount -t tmpfs failed: {m.stderr.strip() or m.returncode}"}
    clinic = None
    try:
        t0, tally = time.perf_counter(), Tally()
        clinic = setup_clinic(mnt / "home", tmp / "disk.log")
        for _ in range(2):
            upload(clinic, tally, images.next())
        settle(clinic, tally, settle_s)
        filler = _fill(mnt)
        full = Tally()
        run_threads(uploads, lambda _i: upload(clinic, full, images.next()))
        with httpx.Client(base_url=clinic.server.base, headers=clinic.headers, timeout=30) as c:
            reads = Counter(c.get(p).status_code for p in ["/api/v1/patients", f"/api/v1/visits/{clinic.visit_id}"])
        filler.unlink()
        time.sleep(3)  # past the storage retry (MEDSCREEN_SERVER__STORAGE_RETRY_S=2)
        after = Tally()
        for _ in range(2):
            upload(clinic, after, images.next())
        for t in (full, after):
            tally.acknowledged.update(t.acknowledged)
            tally.codes.update(t.codes)
        result = counts(tally, settle(clinic, tally, settle_s), clinic.server, t0)
        return {**result, "while_full": {str(c): n for c, n in sorted(full.codes.items())},
                "reads_while_full": {str(c): n for c, n in sorted(reads.items())},
                "after_recovery": {str(c): n for c, n in sorted(after.codes.items())},
                "recovered": all(200 <= c < 300 for c in after.codes.elements()) and bool(after.codes)}
    finally:
        if clinic is not None:
            clinic.server.stop()
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True)


def part_memory(tmp: Path, n: int) -> dict[str, Any]:
    clinic = setup_clinic(tmp / "memory", tmp / "memory.log")
    try:
        data = huge_png()
        baseline = clinic.server.peak_rss_mb()
        t0, tally = time.perf_counter(), Tally()
        run_threads(n, lambda _i: upload(clinic, tally, data))
        result = counts(tally, settle(clinic, tally, 30), clinic.server, t0)
        return {**result, "uploads": n, "png_bytes": len(data), "pixels": "7700x7700",
                "baseline_rss_mb": baseline, "refused": sum(n for c, n in tally.codes.items() if 400 <= c < 500)}
    finally:
        clinic.server.stop()


def summary(name: str, r: dict[str, Any]) -> str:
    if "skipped" in r:
        return f"{name}: skipped ({r['skipped']})"
    return (f"{name}: acknowledged {r['acknowledged']}, lost {r['lost']}, duplicated {r['duplicated']}, "
            f"stuck {r['stuck']}, 5xx {r['5xx']}, codes {r['codes']}, peak RSS {r['peak_rss_mb']} MB, {r['seconds']} s")


def _loads(text: str) -> list[tuple[int, int]]:
    return [tuple(int(x) for x in part.split("x")) for part in text.split(",") if part]  # type: ignore[misc]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "reliability.json")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="a short version: small load, one kill, 4 huge decodes")
    parser.add_argument("--loads", help="threads x uploads each, comma-separated (default 10x10,20x5; quick 4x3)")
    parser.add_argument("--kills", type=int, help="kill -9 bursts (default 3; quick 1)")
    parser.add_argument("--settle", type=float, default=180, help="seconds to wait for screenings to finish")
    args = parser.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    loads = _loads(args.loads or ("4x3" if args.quick else "10x10,20x5"))
    kills = args.kills if args.kills is not None else 1 if args.quick else 3

    images = Images()
    report: dict[str, Any] = {"benchmark": "reliability", "quick": args.quick, "server_workers": 2,
                              "machine": {"python": platform.python_version(), "cpus": os.cpu_count()}, "parts": {}}
    tmp = Path(tempfile.mkdtemp(prefix="medscreen-reliability-"))
    (tmp / "tmp").mkdir()
    old_tmpdir = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp / "tmp")  # the servers' own temporary files (onnxruntime's .ses) stay inside
    try:
        for name in parts:
            t0 = time.perf_counter()
            try:
                r = run_part(name, tmp, images, args, loads, kills)
            except Exception as e:  # noqa: BLE001 -- one part's failure is reported, the others still run
                r = {"error": f"{type(e).__name__}: {e}"[:2000]}
                print(f"{name}: error {r['error']}", flush=True)
            r.setdefault("seconds", round(time.perf_counter() - t0, 1))
            report["parts"][name] = r
    finally:
        if old_tmpdir is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_tmpdir
        shutil.rmtree(tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    return report


def run_part(name: str, tmp: Path, images: Images, args: argparse.Namespace, loads: list[tuple[int, int]],
             kills: int) -> dict[str, Any]:
        if name == "load":
            r = part_load(tmp, images, loads, args.settle)
            for k, v in r.items():
                print(summary(f"load {k}", v), flush=True)
        elif name == "kill":
            r = part_kill(tmp, images, kills, threads=4 if args.quick else 8,
                          kill_after_s=1.5 if args.quick else 3, settle_s=args.settle)
            print(summary("kill", r), flush=True)
        elif name == "disk":
            r = part_disk(tmp, images, uploads=3 if args.quick else 6, settle_s=args.settle)
            print(summary("disk", r), flush=True)
        else:
            r = part_memory(tmp, 4 if args.quick else 8)
            print(summary("memory", r), flush=True)
        return r


if __name__ == "__main__":
    main()
