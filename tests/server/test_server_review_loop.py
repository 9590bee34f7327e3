"""Issue 12 in the clinic app (stub screener): review advice everywhere, the laterality question, the models'
limits, experimental findings for reviewers only, the review loop back to the health worker, the visit PDF,
the reviewer's queue and case page."""

from __future__ import annotations

import io
import json
import re

from server_support import BORDERLINE, CAT, EXPERIMENTAL, LEFT_EYE, URGENT, Browser, World, png_bytes, wait_done
import pytest
from sqlalchemy import select

from medscreen.inference.runtime import bundled_model_path
from medscreen.pipelines.schema import DISCLAIMER
from medscreen.store.models import AuditEvent, Capture


def _visit(b: Browser, patient_id: int, modality: str = "fundus") -> int:
    r = b.api_post("/api/v1/visits", json={"patient_id": patient_id, "modality": modality})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _screen(b: Browser, visit_id: int, script: int, eye: str | None = "OD", size: tuple[int, int] = (64, 48)) -> dict:
    data = png_bytes(*size, colour=(script, 80 + script, 40))
    r = b.api_post(f"/api/v1/visits/{visit_id}/captures", files={"file": ("x.png", data, "image/png")},
                   data={"eye": eye} if eye else {})
    assert r.status_code == 202, r.text
    done = wait_done(b.client, r.json()["screening_id"])
    assert done["status"] == "done", done
    return done


def _pdf_text(b: Browser, visit_id: int) -> str:
    from pypdf import PdfReader

    r = b.client.get(f"/visits/{visit_id}/report.pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(r.content))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_review_advice_is_shown_on_every_page_the_pdf_and_the_queue(world: World,
                                                                    browsers: dict[str, Browser]) -> None:
    worker, reviewer = browsers["worker"], browsers["reviewer"]
    visit_id = _visit(worker, world.patient_a)
    done = _screen(worker, visit_id, BORDERLINE)
    assert done["result"]["advice"] == "review" and done["advice"] == "review"
    visit = worker.client.get(f"/visits/{visit_id}").text
    assert 'class="advice advice-review">Advice: <strong>REVIEW</strong>' in visit
    assert "awaiting specialist review" in visit and "uncertain from 0.34" in visit
    patient = worker.client.get(f"/patients/{world.patient_a}").text
    assert '<span class="advice-review">review</span>' in patient and "awaiting review" in patient
    assert "Advice: REVIEW" in _pdf_text(worker, visit_id)
    queue = {q["screening_id"]: q for q in reviewer.client.get("/api/v1/reviews/queue").json()}
    assert queue[done["id"]]["advice"] == "review" and queue[done["id"]]["category"] == "review"
    page = reviewer.client.get("/reviews?show=review").text
    assert f'href="/reviews/{done["id"]}"' in page and '<span class="advice-review">review</span>' in page
    case = reviewer.client.get(f"/reviews/{done['id']}").text
    assert "Advice: <strong>REVIEW</strong>" in case


def test_each_result_shows_the_models_measured_limits(world: World, browsers: dict[str, Browser]) -> None:
    worker = browsers["worker"]
    visit_id = _visit(worker, world.patient_a)
    done = _screen(worker, visit_id, BORDERLINE)
    glaucoma = done["model_limits"]["glaucoma"]
    card = json.loads(bundled_model_path("glaucoma").with_suffix(".json").read_text())
    # the figures at the card's operating point when it records one (the threshold re-chosen on validation), else
    # its first validation figures
    name, validation = next(iter((card.get("operating_points") or card["metrics"]).items()))
    sens, spec = validation["sensitivity"], validation["specificity"]
    assert glaucoma["sensitivity"] == pytest.approx(sens) and glaucoma["specificity"] == pytest.approx(spec)
    assert glaucoma["measured_on"].startswith(name) and "validation" in name and glaucoma["experimental"] is False
    page = worker.client.get(f"/visits/{visit_id}").text
    line = f"glaucoma: sensitivity {sens:.2f}, specificity {spec:.2f}"
    assert "How often the model is right" in page and line in page
    pallor = done["result"]["glaucoma"]["disc_pallor"]  # the stub gives it, as the bundled card does: shown too
    assert pallor is not None and "Disc pallor" in page and "paler disc raises the glaucoma probability" in page
    assert line in _pdf_text(worker, visit_id)
    stub = _screen(worker, visit_id, 200)  # a model file no bundled card describes: no figures, said so
    assert stub["model_limits"]["glaucoma"]["sensitivity"] is None


def test_experimental_progression_is_for_reviewers_only(world: World, browsers: dict[str, Browser]) -> None:
    worker, reviewer = browsers["worker"], browsers["reviewer"]
    visit_id = _visit(worker, world.patient_a)
    done = _screen(worker, visit_id, EXPERIMENTAL)
    assert done["result"]["progression"] is None and "progression" not in done["model_limits"]
    assert "Progression" not in worker.client.get(f"/visits/{visit_id}").text
    assert "Progression" not in _pdf_text(worker, visit_id)
    seen = reviewer.client.get(f"/api/v1/screenings/{done['id']}").json()
    assert seen["result"]["progression"]["experimental"] is True and seen["model_limits"]["progression"]["experimental"]
    case = reviewer.client.get(f"/reviews/{done['id']}").text
    assert 'badge experimental">experimental' in case and "never changes the advice" in case


def test_wrong_eye_is_asked_and_the_answer_moves_the_capture(world: World, browsers: dict[str, Browser]) -> None:
    worker = browsers["worker"]
    visit_id = _visit(worker, world.patient_a)
    done = _screen(worker, visit_id, LEFT_EYE, eye="OD")
    assert done["eye"] == "OD" and done["detected_eye"] == "OS"
    assert done["warnings"] and "looks like a left eye (OS)" in done["warnings"][0]
    page = worker.client.get(f"/visits/{visit_id}").text
    assert f'action="/captures/{done["capture_id"]}/eye"' in page
    assert "Save as left eye (OS)" in page and "Keep right eye (OD)" in page
    r = worker.client.post(f"/captures/{done['capture_id']}/eye", data={"csrf_token": worker.csrf, "eye": "OS"})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/visits/{visit_id}")
    after = worker.client.get(f"/api/v1/screenings/{done['id']}").json()
    assert after["eye"] == "OS" and after["warnings"] == []
    assert f'action="/captures/{done["capture_id"]}/eye"' not in worker.client.get(f"/visits/{visit_id}").text
    with world.app.state.sessions() as s:
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "capture.eye",
                                                 AuditEvent.object_id == str(done["capture_id"]))) is not None
    # the API: keep the chosen eye; another clinic may not answer
    kept = _screen(worker, visit_id, LEFT_EYE, eye="OD", size=(66, 48))
    assert browsers["worker.b"].api_post(f"/api/v1/captures/{kept['capture_id']}/eye",
                                         json={"eye": "OD"}).status_code == 404  # another clinic's record: as if missing (issue 13)
    r = worker.api_post(f"/api/v1/captures/{kept['capture_id']}/eye", json={"eye": "OD"})
    assert r.status_code == 200 and r.json() == {"capture_id": kept["capture_id"], "eye": "OD", "moved": False}
    assert worker.client.get(f"/api/v1/screenings/{kept['id']}").json()["warnings"] == []
    with world.app.state.sessions() as s:
        assert s.get(Capture, kept["capture_id"]).eye_confirmed_at is not None


def test_the_review_reaches_the_health_worker(world: World, browsers: dict[str, Browser]) -> None:
    worker, reviewer = browsers["worker"], browsers["reviewer"]
    visit_id = _visit(worker, world.patient_a)
    done = _screen(worker, visit_id, BORDERLINE, size=(70, 50))
    worker.client.get(f"/visits/{visit_id}")
    r = reviewer.client.post(f"/reviews/{done['id']}", data={
        "csrf_token": reviewer.csrf, "task": "glaucoma", "decision": "correct", "label": "glaucoma",
        "comment": "Notched rim at 7 o'clock."})
    assert r.status_code == 303
    # the patient list and the patient page mark the new review
    patients = worker.client.get("/patients").text
    assert re.search(rf'href="/patients/{world.patient_a}">[^<]*</a> <span class="badge new-review">\d+ new review',
                     patients)
    assert "new review" in worker.client.get(f"/patients/{world.patient_a}").text
    # the visit page: who, when, what, the comment and the advice that now stands
    page = worker.client.get(f"/visits/{visit_id}").text
    assert "Reviewed by reviewer" in page and "Corrected the glaucoma finding: <strong>glaucoma</strong>" in page
    assert "Notched rim at 7 o&#39;clock." in page and "Advice now: <strong>REFER</strong>" in page
    assert "(the model said review)" in page
    text = _pdf_text(worker, visit_id)
    assert "Advice: REFER" in text and "corrected by reviewer" in text and "Notched rim" in text
    assert "API" not in text
    api = worker.client.get(f"/api/v1/screenings/{done['id']}").json()
    assert api["advice"] == "refer" and api["current_review"]["label"] == "glaucoma"
    # seen once opened: the mark is gone from this visit
    visits = worker.client.get(f"/patients/{world.patient_a}").text
    assert f'href="/visits/{visit_id}"' in visits
    item = visits.split(f'href="/visits/{visit_id}"')[1].split("</li>")[0]
    assert "new review" not in item
    # a second review supersedes the first; both are kept
    r = reviewer.api_post(f"/api/v1/screenings/{done['id']}/reviews",
                          json={"task": "glaucoma", "decision": "correct", "label": "normal", "comment": "Second look"})
    assert r.status_code == 201
    api = worker.client.get(f"/api/v1/screenings/{done['id']}").json()
    assert [x["superseded_at"] is None for x in api["reviews"]] == [False, True]
    assert api["current_review"]["comment"] == "Second look" and api["advice"] == "routine"
    case = reviewer.client.get(f"/reviews/{done['id']}").text
    assert "superseded" in case and 'badge">current' in case


def test_visit_pdf_has_the_patient_the_latest_gradable_photo_and_full_reasons(world: World,
                                                                              browsers: dict[str, Browser]) -> None:
    worker = browsers["worker"]
    visit_id = _visit(worker, world.patient_a)
    _screen(worker, visit_id, CAT, size=(80, 60))          # a cat first, then a gradable retake
    _screen(worker, visit_id, BORDERLINE, size=(82, 60))
    text = _pdf_text(worker, visit_id)
    for words in ("Amina Odhiambo", "clinic id A-001", "Birth year: 1961", "sex: female", "Clinic: Clinic A",
                  "Visit: 20", "Right eye (OD) — the latest gradable of 2 photos",
                  "Left eye (OS): no finished screening in this visit.", "Review: not reviewed yet",
                  "glaucoma: glaucoma.onnx", "ending here.", _flat(DISCLAIMER)[:60]):
        assert words in text, (words, text[:2000])
    assert "does not look like a fundus photo" not in text  # the cat photo is not the one printed


def test_queue_is_sorted_by_urgency_and_rejections_are_apart(world: World, browsers: dict[str, Browser]) -> None:
    worker, reviewer = browsers["worker"], browsers["reviewer"]
    fundus = _visit(worker, world.patient_a)
    cat = _screen(worker, fundus, CAT, size=(90, 60))
    refer = _screen(worker, fundus, 200, size=(92, 60))
    study = _visit(worker, world.patient_a, "ultrasound")
    urgent = _screen(worker, study, URGENT, eye=None, size=(94, 60))
    queue = [q["screening_id"] for q in reviewer.client.get("/api/v1/reviews/queue").json()]
    assert queue.index(urgent["id"]) < queue.index(refer["id"]) and cat["id"] not in queue
    rejected = reviewer.client.get("/api/v1/reviews/queue", params={"show": "rejected"}).json()
    assert cat["id"] in [q["screening_id"] for q in rejected] and {q["category"] for q in rejected} == {"rejected"}
    page = reviewer.client.get("/reviews").text
    assert page.index(f'/reviews/{urgent["id"]}"') < page.index(f'/reviews/{refer["id"]}"')
    assert f'/reviews/{cat["id"]}"' not in page
    assert f'/reviews/{cat["id"]}"' in reviewer.client.get("/reviews?show=rejected").text
    assert reviewer.client.get("/api/v1/reviews/queue", params={"show": "refr"}).status_code == 422


def test_case_page_has_banner_images_zoom_other_eye_and_earlier_visits(world: World,
                                                                       browsers: dict[str, Browser]) -> None:
    worker, reviewer = browsers["worker"], browsers["reviewer"]
    earlier = _screen(worker, _visit(worker, world.patient_a), BORDERLINE, size=(100, 60))
    visit_id = _visit(worker, world.patient_a)
    left = _screen(worker, visit_id, 200, eye="OS", size=(102, 60))
    right = _screen(worker, visit_id, BORDERLINE, size=(640, 480))
    case = reviewer.client.get(f"/reviews/{right['id']}").text
    assert "Amina Odhiambo" in case and "#A-001" in case and "born 1961" in case and "Clinic A" in case
    assert 'id="overlay-toggle" checked' in case and 'data-zoom="1:1"' in case and "640×480 px" in case
    assert f'src="/api/v1/screenings/{right["id"]}/disc.jpg"' in case
    assert f'href="/reviews/{left["id"]}"' in case  # the other eye of the visit
    assert f'href="/reviews/{earlier["id"]}"' in case  # the same eye at an earlier visit
    assert "threshold 0.44; uncertain from 0.34" in case
    original = reviewer.client.get(f"/api/v1/screenings/{right['id']}/image")
    assert original.status_code == 200 and original.content == png_bytes(640, 480, colour=(BORDERLINE, 81, 40))
    crop = reviewer.client.get(f"/api/v1/screenings/{right['id']}/disc.jpg")
    assert crop.status_code == 200 and crop.content[:3] == b"\xff\xd8\xff"
    assert browsers["worker.b"].client.get(f"/api/v1/screenings/{right['id']}/image").status_code == 404  # another clinic's: as if missing (issue 13)


def test_visit_pdf_runs_onto_a_second_page_rather_than_cutting(world: World, browsers: dict[str, Browser]) -> None:
    worker = browsers["worker"]
    study = _visit(worker, world.patient_a, "ultrasound")
    for n in range(5):
        _screen(worker, study, URGENT, eye=None, size=(110 + n, 60))
    text = _pdf_text(worker, study)
    assert "page 1 of 2" in text and "page 2 of 2" in text
    assert all(f"Image {n}" in text for n in range(1, 6)) and text.count("refer urgently") == 5
    assert "Birth year: 1961" in text and "breast ultrasound study" in text


def test_breast_limits_are_the_figures_at_the_malignancy_threshold() -> None:
    from medscreen.server.limits import _limits
    from medscreen.server.limits import _card as card_of

    card = card_of("breast-class")
    point = next(iter(card.operating_points.values()))
    limits = _limits("breast-class", card.sha256)
    assert (limits.sensitivity, limits.specificity) == (point["sensitivity"], point["specificity"])
    assert limits.positive == "malignant" and "threshold" in limits.measured_on


def test_a_missing_image_file_is_a_404_in_words_without_the_server_path(world: World,
                                                                        browsers: dict[str, Browser]) -> None:
    worker, reviewer = browsers["worker"], browsers["reviewer"]
    shown = _screen(worker, _visit(worker, world.patient_a), BORDERLINE, size=(640, 480))
    with world.app.state.sessions() as s:
        sha = s.scalar(select(Capture).where(Capture.id == shown["capture_id"])).image.sha256
    world.app.state.blobs.path(sha).unlink()
    for route in ("image", "disc.jpg"):
        r = reviewer.client.get(f"/api/v1/screenings/{shown['id']}/{route}")
        assert r.status_code == 404, (route, r.text)
        assert "missing from this computer's data folder" in r.text and str(world.home) not in r.text
