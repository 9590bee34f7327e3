"""The clinic app in French: every page of every role, the PDF, the language settings, older English reasons.

A page "shows an untranslated key" when a text of it (outside elements marked
``lang="en"``: model cards, API descriptions, reasons stored before they were
translatable) is an English msgid of the catalogue whose French differs, or
holds an unfilled ``%(name)s`` placeholder or an English decimal number.
"""

from __future__ import annotations

import html
import io
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image as PILImage
from server_support import (
    BORDERLINE,
    CAT,
    LEFT_EYE,
    URGENT,
    Browser,
    World,
    png_bytes,
    wait_done,
)
from sqlalchemy import select

from medscreen.i18n import LOCALE_DIR
from medscreen.pipelines.quality import assess_image
from medscreen.pipelines.schema import LesionFinding, ScreeningOutput
from medscreen.pipelines.screening import breast_advice, glaucoma_reasons
from medscreen.store import users as users_module
from medscreen.store.models import AuditEvent, Clinic, Role, Screening, User

PASSWORD = "correct horse battery"
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_SHOWN_ATTRS = ("alt", "aria-label", "placeholder", "title", "label")


class _Texts(HTMLParser):
    """The texts a reader sees or hears (text and labelling attributes), skipping ``lang="en"`` and
    ``translate="no"`` elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []
        self.texts: list[str] = []

    def _english(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("translate") == "no":  # codes (audit actions, record types) are shown as they are
            english = True
        else:
            english = values.get("lang") == "en" if "lang" in values and tag != "html" else self._english()
        if not english:
            self.texts += [" ".join(v.split()) for k, v in attrs if k in _SHOWN_ATTRS and v]
        if tag not in _VOID:
            self.stack.append((tag, english))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if text and not self._english() and (not self.stack or self.stack[-1][0] not in ("script", "style")):
            self.texts.append(text)


def _french_catalogue() -> dict[str, str]:
    """English msgid → French, for the texts whose French differs from the English."""
    from babel.messages.pofile import read_po

    with (LOCALE_DIR / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalogue = read_po(f, locale="fr")
    out = {}
    for m in catalogue:
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        out.update({i: s for i, s in zip(ids, strings, strict=False) if i and i.strip() and i != s})
    return out


def _pattern(msgid: str) -> re.Pattern[str] | None:
    """The msgid as it would appear untranslated in one text of a page (None: too short to tell)."""
    text = re.sub(r"<[^>]+>", " ", msgid).replace("%%", "%")
    parts = [p for p in re.split(r"%\(\w+\)s", text)]
    if len(" ".join(parts).split()) < 2:
        return None
    return re.compile(r"(?<!\w)" + r".+?".join(r"\s*".join(map(re.escape, p.split())) for p in parts) + r"(?!\w)")


CATALOGUE = _french_catalogue()
PATTERNS = {msgid: p for msgid in CATALOGUE if (p := _pattern(msgid)) is not None}
WORDS = {msgid for msgid in CATALOGUE if _pattern(msgid) is None and "%(" not in msgid}


def untranslated(page: str, data: set[str]) -> list[str]:
    """What the French page shows in English (``data``: names that are no msgid, such as usernames)."""
    parser = _Texts()
    parser.feed(page)
    found = [f"placeholder or template code left: {m}" for m in re.findall(r"%\(\w+\)s|\{\{|\{%", page)]
    for text in parser.texts:
        pieces = {p.strip(" ·:—()") for p in re.split(r" · | — ", text)} | {text}
        found += [f"English word {w!r} in {text!r}" for w in WORDS if w in pieces and w not in data]
        found += [f"English text {m!r} in {text!r}" for m, p in PATTERNS.items() if p.search(text)]
        found += [f"English number {n!r} in {text!r}" for n in re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", text)
                  if not re.search(r"\d+\.\d+\.\d+|sha256|\.onnx", text)]
    return found


class _FrenchReady:
    """The stub screener's results with the pipeline's own reason messages (what the real Screener stores)."""

    def __init__(self, analyse) -> None:
        self.analyse = analyse  # the stub's own method

    def __call__(self, image: bytes, modality: str | None = None, *, source: str | None = None) -> ScreeningOutput:
        out = self.analyse(image, modality, source=source)
        r = out.result
        if r.glaucoma is not None:
            messages, quality = glaucoma_reasons(r.glaucoma, r.progression), []
        elif r.breast_class is not None:
            lesion = r.lesion or LesionFinding(found=False, area_px=0, area_fraction=0)
            messages, quality = breast_advice(r.breast_class, lesion)[1], []
        else:  # the stub's "cat": what the real input check says of a flat 64×48 picture
            check = assess_image(np.asarray(PILImage.open(io.BytesIO(image)).convert("RGB")), "fundus")
            messages, quality = check.messages, check.messages
        result = r.model_copy(update={"reasons": [str(m) for m in messages],
                                      "quality_reasons": [str(m) for m in quality]})
        return ScreeningOutput(result, out.image, out.mask, reason_messages=list(messages),
                               quality_messages=list(quality))


@pytest.fixture(scope="module")
def french(world: World) -> dict[str, Browser]:
    """French-speaking users of each role, and visits with results of every kind (a review, an eye question)."""
    world.screener.analyse = _FrenchReady(world.screener.analyse)  # type: ignore[method-assign]
    with world.app.state.sessions() as s:
        a = s.get(Clinic, world.clinic_a)
        for name, role, clinic in [("worker.fr", Role.HEALTH_WORKER, a), ("reviewer.fr", Role.REVIEWER, a),
                                   ("admin.fr", Role.ADMIN, None)]:
            users_module.create_user(s, name, PASSWORD, role, clinic, language="fr")
        s.commit()
    browsers = {name: Browser(world.app, name) for name in ("worker.fr", "reviewer.fr", "admin.fr")}
    worker = browsers["worker.fr"]
    fundus = worker.api_post("/api/v1/visits", json={"patient_id": world.patient_a, "modality": "fundus"}).json()["id"]
    scans = worker.api_post("/api/v1/visits", json={"patient_id": world.patient_a, "modality": "ultrasound"}).json()["id"]
    ids = [_screen(worker, fundus, script, eye) for script, eye in ((LEFT_EYE, "OD"), (BORDERLINE, "OS"), (CAT, "OS"),
                                                                     (0, "OD"))]
    ids += [_screen(worker, scans, script, None) for script in (0, URGENT)]
    reviewer = browsers["reviewer.fr"]
    r = reviewer.client.post(f"/reviews/{ids[3]}", data={"csrf_token": reviewer.csrf, "decision": "correct",
                                                          "task": "glaucoma", "label": "normal", "comment": "ok"})
    assert r.status_code == 303, r.text
    world.french = {"fundus": fundus, "scans": scans, "screenings": ids}  # type: ignore[attr-defined]
    return browsers


def _screen(b: Browser, visit_id: int, script: int, eye: str | None) -> int:
    r = b.api_post(f"/api/v1/visits/{visit_id}/captures", data={"eye": eye} if eye else {},
                   files={"file": ("x.png", png_bytes(64, 48, colour=(script, 80 + script, 40)), "image/png")})
    assert r.status_code == 202, r.text
    done = wait_done(b.client, r.json()["screening_id"])
    assert done["status"] == "done", done
    return done["id"]


def _data_words(world: World) -> set[str]:
    with world.app.state.sessions() as s:
        names = set(s.scalars(select(User.username))) | set(s.scalars(select(Clinic.name)))
    return names | {"medscreen", "API", "UTC", "SHA-256", "PDF", "CSV", "OD", "OS", "Wi-Fi"}


def _pages(world: World) -> dict[str, list[str]]:
    v = world.french  # type: ignore[attr-defined]
    s = v["screenings"]
    clinic = ["/patients", f"/patients/{world.patient_a}", f"/visits/{v['fundus']}", f"/visits/{v['scans']}",
              "/account", "/patients/987654321"]
    review = ["/reviews", "/reviews?show=rejected", "/reviews?show=urgent", *(f"/reviews/{i}" for i in s), "/account"]
    admin = ["/admin/users", "/admin/clinics", "/admin/audit", "/admin/audit?user=nobody", "/admin/models",
             "/admin/network", "/api/docs", *clinic, *review]
    return {"worker.fr": clinic, "reviewer.fr": review, "admin.fr": admin}


def test_every_page_of_every_role_is_french(world: World, french: dict[str, Browser]) -> None:
    data = _data_words(world)
    problems = []
    for user, urls in _pages(world).items():
        for url in urls:
            r = french[user].client.get(url)
            assert r.status_code in (200, 404, 422), (user, url, r.status_code)
            assert '<html lang="fr">' in r.text and r.headers["content-language"] == "fr", (user, url)
            problems += [f"{user} {url}: {p}" for p in untranslated(r.text, data)]
    assert not problems, "\n".join(problems[:40])
    visit = french["worker.fr"].client.get(f"/visits/{world.french['fundus']}").text  # type: ignore[attr-defined]
    assert "Conduite à tenir\u00a0: <strong>AVIS SPÉCIALISÉ</strong>" in visit
    assert "probabilité de glaucome 0,41, juste sous le seuil de référence 0,44" in visit
    assert "Cette photo ressemble à un <strong>œil gauche (OG)</strong>" in visit
    case = html.unescape(french["reviewer.fr"].client.get(f"/reviews/{world.french['screenings'][3]}").text)  # type: ignore[attr-defined]
    assert "Relu par reviewer.fr" in case and "A corrigé le résultat «\u00a0glaucome\u00a0»" in case


def test_the_checker_finds_english(world: World, french: dict[str, Browser]) -> None:
    """The check above can fail: an English page, a raw placeholder and an English number are all found."""
    english = Browser(world.app, "worker").client.get(f"/patients/{world.patient_a}").text
    found = untranslated(english, _data_words(world))
    assert any("'Start a visit'" in p for p in found) and any("'Follow-up'" in p for p in found)
    assert untranslated("<p>Probabilité %(p)s</p><p>seuil 0.44</p>", set()) == [
        "placeholder or template code left: %(p)s", "English number '0.44' in 'seuil 0.44'"]
    assert untranslated('<p lang="en">Start a visit</p>', set()) == []


def test_anonymous_pages_follow_the_server_setting_then_the_browser(world: World) -> None:
    browser = Browser(world.app)
    assert '<html lang="en">' in browser.client.get("/login").text
    french = browser.client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}).text
    assert '<html lang="fr">' in french and "Se connecter" in french and not untranslated(french, set())
    settings = world.app.state.settings
    old = settings.server.language
    try:
        settings.server.language = "fr"
        page = browser.client.get("/phone-setup", headers={"Accept-Language": "en"}).text
        assert '<html lang="fr">' in page and "Configurer un téléphone" in page and not untranslated(page, set())
        wrong = browser.client.post("/login", data={"username": "nobody", "password": "x" * 12,
                                                    "csrf_token": browser.csrf, "next": "/"})
        assert wrong.status_code == 401 and "Nom d'utilisateur ou mot de passe incorrect" in html.unescape(wrong.text)
    finally:
        settings.server.language = old


def test_a_user_sets_their_language_and_an_admin_sets_anyones(world: World, french: dict[str, Browser]) -> None:
    worker = Browser(world.app, "worker")
    assert '<html lang="en">' in worker.client.get("/patients").text
    bad = worker.client.post("/account/language", data={"csrf_token": worker.csrf, "language": "klingon"})
    assert bad.status_code == 422 and "not one of the languages shipped" in bad.text
    ok = worker.client.post("/account/language", data={"csrf_token": worker.csrf, "language": "fr"})
    assert ok.status_code == 303
    assert '<html lang="fr">' in worker.client.get("/patients").text
    admin = french["admin.fr"]
    with world.app.state.sessions() as s:
        target = s.scalars(select(User).where(User.username == "worker")).one()
        assert target.language == "fr"
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "user.language")).all()
        assert any(e.object_id == str(target.id) for e in events)
    r = admin.client.post(f"/admin/users/{target.id}/language", data={"csrf_token": admin.csrf, "language": ""})
    assert r.status_code == 303
    assert '<html lang="en">' in worker.client.get("/patients").text  # back to the server's default
    created = admin.client.post("/admin/users", data={"csrf_token": admin.csrf, "username": "nurse.fr",
                                                      "password": PASSWORD, "role": "health_worker",
                                                      "clinic_id": str(world.clinic_a), "language": "fr"})
    assert created.status_code == 303
    with world.app.state.sessions() as s:
        assert s.scalars(select(User.language).where(User.username == "nurse.fr")).one() == "fr"


def test_french_pdf(world: World, french: dict[str, Browser]) -> None:
    from pypdf import PdfReader

    r = french["worker.fr"].client.get(f"/visits/{world.french['fundus']}/report.pdf")  # type: ignore[attr-defined]
    assert r.status_code == 200 and r.headers["content-language"] == "fr"
    text = " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(r.content)).pages)
    for french_text in ("Compte rendu de visite medscreen", "Œil droit (OD)", "Conduite à tenir", "Motifs",
                        "Relecture : corrigé par reviewer.fr", "le résultat « glaucome » est désormais « normal »",
                        "Relecture : pas encore relu (un spécialiste va l'examiner)", "Résultats :",
                        "probabilité de glaucome 0,41, juste sous le seuil de référence 0,44", "Fiabilité du modèle", "aide au dépistage, pas un diagnostic", "page 1 sur"):
        assert french_text in text.replace("\u00a0", " "), french_text
    for english in ("Advice:", "Why:", "Findings:", "Review:", "visit report", "not a diagnosis", "Printed"):
        assert english not in text, english


def test_older_english_reasons_still_show(world: World, french: dict[str, Browser]) -> None:
    """A screening stored before reasons were messages shows its English reasons, marked as English."""
    sid = world.french["screenings"][3]  # type: ignore[attr-defined]
    with world.app.state.sessions() as s:
        screening = s.get(Screening, sid)
        saved, screening.messages_json = screening.messages_json, None
        s.commit()
    try:
        page = french["reviewer.fr"].client.get(f"/reviews/{sid}").text
        assert '<ul lang="en"><li>glaucoma probability 0.80 is at or above the referral threshold' in page
        assert not untranslated(page, _data_words(world))
    finally:
        with world.app.state.sessions() as s:
            s.get(Screening, sid).messages_json = saved
            s.commit()


def test_api_json_stays_english(world: World, french: dict[str, Browser]) -> None:
    sid = world.french["screenings"][1]  # type: ignore[attr-defined]
    body = french["worker.fr"].client.get(f"/api/v1/screenings/{sid}").json()
    assert body["advice"] == "review" and body["result"]["advice"] == "review"
    assert body["result"]["reasons"][0].startswith("uncertain: glaucoma probability 0.41")
