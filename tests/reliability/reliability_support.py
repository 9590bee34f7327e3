"""Fixtures of the reliability suite: a clinic app with small, known limits, and raw ASGI calls.

The suite re-runs the defects a security and reliability probe found (issue 13):
bodies read before sign-in, ids past 64 bits, sessions that outlived logout,
unthrottled sign-ins, damaged stored images, decompression bombs and the bad-file
corpus. Each case states the answer expected.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from database_support import database_of
from fastapi.testclient import TestClient

from medscreen.config import LimitSettings, ServerSettings, Settings
from medscreen.server import create_app
from medscreen.store import users as users_module
from medscreen.store.models import Clinic, Modality, Patient, Role, Sex, Visit
from server.server_support import PASSWORD, Browser, StubScreener, csrf_of, png_bytes, wait_done

__all__ = ["PASSWORD", "Browser", "Clinic", "Peak", "RawResult", "csrf_of", "make_world", "png_bytes", "raw_request",
           "small_settings", "wait_done", "world_on"]

#: the limits the suite runs under (small, so a "huge" body is a few MB)
BODY_CAP = 2_000_000
JSON_CAP = 16 * 1024


def small_settings(**server: Any) -> Settings:
    """Settings with a 2 MB body cap, a 16 KiB JSON cap and the given server settings."""
    limits = LimitSettings(max_body_bytes=BODY_CAP, max_json_bytes=JSON_CAP, max_image_bytes=BODY_CAP - 100_000,
                           max_fundus_pixels=4_000_000, max_ultrasound_pixels=1_000_000)
    return Settings(limits=limits, server=ServerSettings(**server))


@dataclass
class World:
    app: Any
    home: Path
    settings: Settings
    visit_fundus: int
    visit_us: int
    visit_b: int
    patient_a: int
    patient_b: int
    extra: dict[str, Any] = field(default_factory=dict)


def make_world(home: Path, settings: Settings, database_url: str | None = None) -> Iterator[World]:
    """A running app with clinics A and B, one user of each role (B: a health worker) and a visit of each kind.

    ``database_url``: the clinic database (default SQLite in ``home``).
    """
    cheap = PasswordHasher(time_cost=1, memory_cost=256, parallelism=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(users_module, "_hasher", lambda: cheap)
        app = create_app(home, database_url, workers=1, screener=StubScreener(), settings=settings)
        with TestClient(app):
            with app.state.sessions() as s:
                a, b = Clinic(name="Clinic A"), Clinic(name="Clinic B")
                pa = Patient(clinic=a, clinic_ref="A-1", name="Amina Odhiambo", birth_year=1961, sex=Sex.FEMALE)
                pb = Patient(clinic=b, clinic_ref="B-1", name="Baraka Mwangi", birth_year=1958, sex=Sex.MALE)
                s.add_all([a, b, pa, pb])
                s.flush()
                users = {}
                for name, role, clinic in [("worker", Role.HEALTH_WORKER, a), ("reviewer", Role.REVIEWER, a),
                                           ("admin", Role.ADMIN, None), ("worker.b", Role.HEALTH_WORKER, b)]:
                    users[name] = users_module.create_user(s, name, PASSWORD, role, clinic)
                visits = [Visit(patient=pa, modality=Modality.FUNDUS, created_by=users["worker"]),
                          Visit(patient=pa, modality=Modality.ULTRASOUND, created_by=users["worker"]),
                          Visit(patient=pb, modality=Modality.FUNDUS, created_by=users["worker.b"])]
                s.add_all(visits)
                s.commit()
                yield World(app, home, settings, visits[0].id, visits[1].id, visits[2].id, pa.id, pb.id)


def world_on(backend: str, request: pytest.FixtureRequest, home: Path, settings: Settings) -> Iterator[World]:
    """:func:`make_world` on a database of its own on ``backend`` (a fixture using ``backend`` runs on each)."""
    with database_of(backend, request, home) as url:
        yield from make_world(home, settings, url)


class Peak:
    """Counts how many threads are inside ``with peak:`` at once (each stays ``hold_s``); ``peak.most`` is the peak."""

    def __init__(self, hold_s: float = 0.02) -> None:
        self.hold_s, self.running, self.most, self._lock = hold_s, 0, 0, threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.hold_s)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.running -= 1


def run_threads(target: Any, args: list[tuple[Any, ...]]) -> None:
    """Run ``target(*a)`` for each ``a`` in its own thread, all at once, and wait for them."""
    threads = [threading.Thread(target=target, args=a) for a in args]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@dataclass
class RawResult:
    status: int
    headers: dict[str, str]
    body: bytes
    bytes_read: int
    receive_calls: int


def raw_request(app: Any, method: str, path: str, headers: dict[str, str], chunks: list[bytes],
                scheme: str = "http") -> RawResult:
    """Call the ASGI app directly, counting how much of the body it pulls (a TestClient sends it all first)."""
    state = {"sent": 0, "calls": 0}
    messages: list[dict[str, Any]] = []
    queue = list(chunks)

    async def receive() -> dict[str, Any]:
        state["calls"] += 1
        if not queue:
            return {"type": "http.request", "body": b"", "more_body": False}
        chunk = queue.pop(0)
        state["sent"] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(queue)}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": scheme,
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "app": app, "state": {}}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    head = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    return RawResult(start["status"], head, body, state["sent"], state["calls"])
