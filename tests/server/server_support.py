"""Fixtures of the server tests: one app per module on a tmp data folder, a stub screener, a clinic world."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from argon2 import PasswordHasher
from database_support import database_of
from fastapi.testclient import TestClient
from PIL import Image as PILImage

from medscreen.pipelines.schema import (
    BreastClassFinding,
    DiscFinding,
    GlaucomaFinding,
    LesionFinding,
    ModelVersion,
    ProgressionFinding,
    ScreeningResult,
)
from medscreen.pipelines.screening import ScreeningOutput
from medscreen.server import create_app
from medscreen.store import users as users_module
from medscreen.store.models import Clinic, Patient, Role, Sex

PASSWORD = "correct horse battery"


#: the red value of an image's first pixel picks a scripted fundus answer of the stub (see StubScreener)
BORDERLINE, LEFT_EYE, CAT, EXPERIMENTAL, URGENT = 1, 2, 3, 4, 5


def card_sha(task: str) -> str:
    """The bundled card's SHA-256 of a model (a result naming it gets the card's measured limits)."""
    import json
    from importlib import resources

    return json.loads((resources.files("medscreen") / "weights" / f"{task}.json").read_text())["sha256"]


class StubScreener:
    """Answers like :class:`~medscreen.pipelines.screening.Screener` in microseconds: fundus → refer, ultrasound → benign.

    An image whose first pixel's red value is :data:`BORDERLINE` gets a glaucoma probability in the review band
    (advice review, the real glaucoma card's hash), :data:`LEFT_EYE` a disc on the left (``disc.eye`` left),
    :data:`CAT` is no fundus photo at all (rescreen), :data:`EXPERIMENTAL` an experimental progression finding,
    :data:`URGENT` (ultrasound) a malignant probability above the malignancy threshold.
    """

    def __init__(self) -> None:
        self.calls = 0

    def analyse(self, image: bytes, modality: str | None = None, *, source: str | None = None) -> ScreeningOutput:
        self.calls += 1
        rgb = np.asarray(PILImage.open(io.BytesIO(image)).convert("RGB"))
        h, w = rgb.shape[:2]
        version = ModelVersion(file="stub.onnx", sha256="0" * 64)
        script = int(rgb[0, 0, 0])
        if modality != "ultrasound" and script in (BORDERLINE, LEFT_EYE, CAT, EXPERIMENTAL):
            return ScreeningOutput(_scripted(script, source, w, h, version), rgb, None)
        if modality == "ultrasound" and script == URGENT:
            result = ScreeningResult(
                source=source, modality="ultrasound", detected_modality="ultrasound", modality_confidence=0.9,
                gradable=True, advice="refer", reasons=["malignant probability 0.30 ≥ 0.15: refer urgently"],
                breast_class=BreastClassFinding(probabilities={"normal": 0.1, "benign": 0.6, "malignant": 0.3},
                                                label="benign", malignancy_threshold=0.15, urgent=True),
                models={"breast-class": version})
            return ScreeningOutput(result, rgb, None)
        if modality == "ultrasound":
            result = ScreeningResult(
                source=source, modality="ultrasound", detected_modality="ultrasound", modality_confidence=0.9,
                gradable=True, advice="refer", reasons=["benign lesion: specialist review"],
                lesion=LesionFinding(found=True, area_px=10.0, area_fraction=0.01, bbox=[0, 0, 2, 2]),
                breast_class=BreastClassFinding(probabilities={"normal": 0.1, "benign": 0.7, "malignant": 0.2},
                                                label="benign"),
                models={"lesion": version, "breast-class": version})
        else:
            result = ScreeningResult(
                source=source, modality="fundus", detected_modality="fundus", modality_confidence=0.95,
                gradable=True, advice="refer", reasons=["glaucoma probability 0.80 ≥ threshold 0.50"],
                disc=DiscFinding(found=True, centre_x=w / 2, centre_y=h / 2, diameter_px=min(h, w) / 4,
                                 area_px=10.0, bbox=[0, 0, 4, 4], crop_box=[0, 0, 8, 8]),
                glaucoma=GlaucomaFinding(probability=0.8, threshold=0.5, positive=True),
                progression=ProgressionFinding(probability=0.3, threshold=0.5, progressing=False),
                models={"disc": version, "glaucoma": version, "progression": version})
        return ScreeningOutput(result, rgb, None)


def _scripted(script: int, source: str | None, w: int, h: int, version: ModelVersion) -> ScreeningResult:
    if script == CAT:
        return ScreeningResult(source=source, modality="fundus", detected_modality="unknown", modality_confidence=0.9,
                               gradable=False, advice="rescreen",
                               reasons=["this does not look like a fundus photo: retake it"],
                               quality_reasons=["not a fundus photo"])
    p, positive = (0.41, False) if script in (BORDERLINE, LEFT_EYE) else (0.8, True)
    glaucoma = GlaucomaFinding(probability=p, threshold=0.44, positive=positive, review_band=[0.34, 0.55],
                               disc_pallor=1.25)  # as a card that fuses the pallor gives
    advice = "review" if script == BORDERLINE else "refer" if positive else "routine"
    reason = ("uncertain: glaucoma probability 0.41 is just below the referral threshold 0.44; a specialist should "
              "look at this photo — " + "and this sentence is long on purpose, " * 4 + "ending here.")
    return ScreeningResult(
        source=source, modality="fundus", detected_modality="fundus", modality_confidence=0.95, gradable=True,
        advice=advice, reasons=[reason if script == BORDERLINE else f"glaucoma probability {p:.2f}"],
        disc=DiscFinding(found=True, centre_x=w / 4, centre_y=h / 2, diameter_px=min(h, w) / 4, area_px=10.0,
                         bbox=[0, 0, 4, 4], crop_box=[0, 0, w // 2, h // 2],
                         eye="left" if script == LEFT_EYE else "right"),
        glaucoma=glaucoma,
        progression=ProgressionFinding(probability=0.6, threshold=0.35, progressing=True, experimental=True)
        if script == EXPERIMENTAL else None,
        models={"disc": version, "glaucoma": ModelVersion(file="glaucoma.onnx", sha256=card_sha("glaucoma")),
                "progression": ModelVersion(file="progression.onnx", sha256=card_sha("progression"))})


@dataclass
class World:
    app: object
    home: Path
    screener: StubScreener
    clinic_a: int
    clinic_b: int
    patient_a: int
    patient_b: int
    patient_name: str


def png_bytes(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (width, height), colour).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, backend: str, request: pytest.FixtureRequest) -> Iterator[World]:
    """A running app (lifespan started) on the module's database backend, with clinics A and B, users of each role
    and two patients."""
    cheap = PasswordHasher(time_cost=1, memory_cost=256, parallelism=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(users_module, "_hasher", lambda: cheap)
        home = tmp_path_factory.mktemp("home")
        screener = StubScreener()
        with database_of(backend, request, home) as url:
            app = create_app(home, url, workers=2, screener=screener)
            with TestClient(app):
                with app.state.sessions() as s:
                    a, b = Clinic(name="Clinic A"), Clinic(name="Clinic B")
                    s.add_all([a, b])
                    pa = Patient(clinic=a, clinic_ref="A-001", name="Amina Odhiambo", birth_year=1961, sex=Sex.FEMALE)
                    pb = Patient(clinic=b, clinic_ref="B-001", name="Baraka Mwangi", birth_year=1958, sex=Sex.MALE)
                    s.add_all([pa, pb])
                    for name, role, clinic in [("worker", Role.HEALTH_WORKER, a), ("reviewer", Role.REVIEWER, a),
                                               ("admin", Role.ADMIN, None), ("worker.b", Role.HEALTH_WORKER, b)]:
                        users_module.create_user(s, name, PASSWORD, role, clinic)
                    s.commit()
                    w = World(app, home, screener, a.id, b.id, pa.id, pb.id, pa.name)
                yield w


def outside_references(html: str) -> list[str]:
    """Every src/href/action in a page that points off this server (a CDN, a font host, ...)."""
    return [u for u in re.findall(r'(?:src|href|action)="([^"]*)"', html) if re.match(r"(?:[a-z]+:)?//", u, re.I)]


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no csrf-token meta tag"
    return match.group(1)


class Browser:
    """A TestClient signed in as one user, with the session's CSRF token."""

    def __init__(self, app: object, username: str | None = None) -> None:
        self.client = TestClient(app, follow_redirects=False)
        self.csrf = csrf_of(self.client.get("/login").text)
        if username:
            r = self.client.post("/login", data={"username": username, "password": PASSWORD,
                                                 "csrf_token": self.csrf, "next": "/"})
            assert r.status_code == 303, r.text
            self.csrf = csrf_of(self.client.get("/patients" if username != "reviewer" else "/reviews").text)

    def api_post(self, url: str, **kwargs: object):
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return self.client.post(url, headers=headers, **kwargs)


@pytest.fixture(scope="module")
def browsers(world: World) -> dict[str, Browser]:
    return {name: Browser(world.app, name) for name in ("worker", "reviewer", "admin", "worker.b")}


def wait_done(client: TestClient, screening_id: int, timeout: float = 10.0, **kwargs: object) -> dict:
    """Poll a screening until it is done or failed."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v1/screenings/{screening_id}", **kwargs).json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.02)
