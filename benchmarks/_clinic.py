"""A live clinic server for the browser benchmarks (run as scripts: ``python benchmarks/X.py``).

uvicorn in a thread on a free port (``tests/server/phone_checks.live_server``,
which the scripts put on the path), SQLite and images in a temporary data
folder, the bundled models; accounts made through the store, as ``medscreen
users create`` does.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["PASSWORD", "chromium", "clinic_server", "fundus_photo"]

PASSWORD = "correct horse battery"
ACCOUNTS = (("nurse", "health_worker"), ("doctor", "reviewer"), ("boss", "admin"))


def _create_accounts(home: Path) -> None:
    from medscreen.store.database import (
        database_url,
        make_engine,
        session_factory,
        upgrade,
    )
    from medscreen.store.models import Clinic, Role
    from medscreen.store.users import create_user

    engine = make_engine(database_url(home))
    upgrade(engine)
    with session_factory(engine)() as s:
        clinic = Clinic(name="Kisumu")
        s.add(clinic)
        for name, role in ACCOUNTS:
            create_user(s, name, PASSWORD, Role(role), None if role == "admin" else clinic)
        s.commit()
    engine.dispose()


@contextmanager
def clinic_server(home: Path, workers: int = 1) -> Iterator[str]:
    """A running server on ``home`` with the accounts nurse, doctor and boss (admin); yields its base URL."""
    from phone_checks import live_server

    from medscreen.server import create_app

    _create_accounts(home)
    with live_server(create_app(home, workers=workers)) as base:
        yield base


def chromium() -> str:
    """Debian's Chromium (``make chromium``), or ``MEDSCREEN_CHROMIUM``."""
    path = os.environ.get("MEDSCREEN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise SystemExit("no Chromium: run `make chromium` or set MEDSCREEN_CHROMIUM")
    return path


def fundus_photo(source: Path, size: tuple[int, int] = (4288, 2848), target_bytes: int = 1_700_000,
                 grain: float = 1.5) -> bytes:
    """``source`` resized to a camera's size and JPEG-encoded at the quality that comes closest to ``target_bytes``.

    IDRiD's photos are stored here at 1600 × 1063; their camera took 4288 × 2848.
    An upscaled photo lacks the sensor noise of the camera's own, which makes up
    much of a real JPEG's weight (and survives reduction): a faint grey grain of
    ``grain`` levels (standard deviation, fixed seed) is added back before encoding.
    """
    import numpy as np
    from PIL import Image

    with Image.open(source) as im:
        pixels = np.asarray(im.convert("RGB").resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    noise = np.random.default_rng(0).normal(0.0, grain, pixels.shape[:2])[..., None]
    big = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    best: bytes = b""
    for quality in range(80, 101):
        buf = io.BytesIO()
        big.save(buf, format="JPEG", quality=quality)
        if not best or abs(buf.tell() - target_bytes) < abs(len(best) - target_bytes):
            best = buf.getvalue()
        if buf.tell() >= target_bytes:
            break
    return best
