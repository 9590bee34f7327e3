"""Item 13: an idempotency key makes a retried or double-submitted upload return the first one's screening."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from reliability_support import Browser, World, png_bytes
from sqlalchemy import func, select

from medscreen.store.models import Capture, Screening, User
from medscreen.store.users import create_api_token


def _counts(world: World) -> tuple[int, int]:
    with world.app.state.sessions() as s:
        return (s.scalar(select(func.count()).select_from(Capture)),
                s.scalar(select(func.count()).select_from(Screening)))


def test_ten_concurrent_identical_uploads_make_one_capture(world: World) -> None:
    with world.app.state.sessions() as s:
        token = create_api_token(s, s.scalar(select(User).where(User.username == "worker")), "double submit")
        s.commit()
    data = png_bytes(90, 66, (33, 44, 55))
    before = _counts(world)

    def upload(_: int) -> dict:
        client = TestClient(world.app)
        r = client.post(f"/api/v1/visits/{world.visit_fundus}/captures",
                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "double-submit-0001"},
                        files={"file": ("p.png", data, "image/png")}, data={"eye": "OD"})
        assert r.status_code == 202, r.text
        return r.json()

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(upload, range(10)))
    assert len({a["screening_id"] for a in answers}) == 1
    assert _counts(world) == (before[0] + 1, before[1] + 1)


def test_same_key_with_another_image_is_refused(browsers: dict[str, Browser], world: World) -> None:
    worker = browsers["worker"]
    url = f"/api/v1/visits/{world.visit_fundus}/captures"
    first = worker.api_post(url, files={"file": ("a.png", png_bytes(70, 50, (1, 1, 9)), "image/png")},
                            data={"eye": "OD", "idempotency_key": "form-key-0002-OD"})
    again = worker.api_post(url, files={"file": ("a.png", png_bytes(70, 50, (1, 1, 9)), "image/png")},
                            data={"eye": "OD", "idempotency_key": "form-key-0002-OD"})
    assert first.status_code == again.status_code == 202
    assert first.json()["screening_id"] == again.json()["screening_id"]
    other = worker.api_post(url, files={"file": ("b.png", png_bytes(70, 50, (9, 1, 1)), "image/png")},
                            data={"eye": "OD", "idempotency_key": "form-key-0002-OD"})
    assert other.status_code == 409 and "reload the page" in other.json()["detail"]
    bad = worker.api_post(url, files={"file": ("b.png", png_bytes(70, 50), "image/png")},
                          data={"eye": "OD", "idempotency_key": "no spaces allowed"})
    assert bad.status_code == 422


def test_upload_form_carries_a_fresh_key_per_form(browsers: dict[str, Browser], world: World) -> None:
    page = browsers["worker"].client.get(f"/visits/{world.visit_fundus}").text
    keys = re.findall(r'name="idempotency_key" value="([^"]+)"', page)
    assert len(keys) == 2 and len(set(keys)) == 2  # OD and OS
    again = re.findall(r'name="idempotency_key" value="([^"]+)"', browsers["worker"].client.get(
        f"/visits/{world.visit_fundus}").text)
    assert not set(keys) & set(again)
