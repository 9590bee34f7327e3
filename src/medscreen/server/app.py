"""The FastAPI application: :func:`create_app` wires the store, the worker pool, auth, pages and the API."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.middleware.sessions import SessionMiddleware

from medscreen import __version__
from medscreen.config import Settings, default_settings
from medscreen.errors import MedscreenError
from medscreen.i18n import LANGUAGES, N_, Message
from medscreen.server import admin, api, docs, pages, phone_setup
from medscreen.server.access_log import AccessLog
from medscreen.server.auto_backup import BackupScheduler, backup_folder
from medscreen.server.deps import CsrfFailed, LoginRequired, NotAuthenticated, is_signed_in
from medscreen.server.guards import BodyGuard, BodyTooLarge, SecureCookieOnHttps
from medscreen.server.security import client_ip, load_secret_key
from medscreen.server.services import NotFoundError, UploadError
from medscreen.server.templating import render, templates
from medscreen.server.throttle import LoginThrottle
from medscreen.server.worker import OVERLAY_DIR, ScreeningWorker
from medscreen.store.audit import audit_denial
from medscreen.store.blobs import BlobStore
from medscreen.store.database import database_url as default_database_url
from medscreen.store.database import make_engine, session_factory, upgrade
from medscreen.store.errors import PermissionDeniedError, StorageUnavailableError
from medscreen.store.uploads import remove_orphan_blobs

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def create_app(data_home: Path, database_url: str | None = None, *, workers: int = 1, screener: Any = None,
               settings: Settings | None = None) -> FastAPI:
    """Build the clinic web app.

    On startup the database is migrated (:func:`~medscreen.store.database.upgrade`),
    the worker pool starts and re-queues screenings a crash left unfinished, and, when
    ``settings.server.backup_interval_hours`` > 0, automatic backups start
    (:class:`~medscreen.server.auto_backup.BackupScheduler`).

    Args:
        data_home: the data folder (database by default, images, overlays, the session key).
        database_url: a SQLAlchemy URL; default ``settings.database.url``, else SQLite in ``data_home``.
        workers: screening threads.
        screener: the screener to share (default: a :class:`~medscreen.pipelines.screening.Screener`
            with the bundled models, loaded on first use); anything with its ``analyse`` method.
        settings: image size limits, session cookie, database (default: the built-in
            :func:`~medscreen.config.default_settings`; the CLI passes :func:`~medscreen.config.get_settings`).

    Raises:
        StoreError: the session key cannot be made or read, or the database URL is unusable.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}; use --workers 1 or more")
    home = Path(data_home).expanduser().resolve()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "posix" and home.stat().st_mode & 0o077:
        home.chmod(0o700)  # patient data: the owner only (the database and images are 0600 inside)
    settings = settings or default_settings()
    url = database_url or default_database_url(home, settings.database.url)
    secret = load_secret_key(home)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(url)
        upgrade(engine)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        app.state.blobs = BlobStore(home, max_pixels=settings.limits.max_image_pixels,
                                    max_bytes=settings.limits.max_image_bytes,
                                    max_concurrent_decodes=settings.limits.max_concurrent_decodes)
        if screener is None:
            from medscreen.pipelines.screening import Screener

            shared = Screener(settings=settings)
        else:
            shared = screener
        _remove_leftovers(app.state.sessions, app.state.blobs, home, settings.server.leftover_grace_s)
        app.state.worker = ScreeningWorker(app.state.sessions, app.state.blobs, shared, home, workers,
                                           retry_s=settings.server.storage_retry_s)
        app.state.worker.start()
        app.state.backups = _start_backups(home, url, settings)
        try:
            yield
        finally:
            if app.state.backups is not None:
                app.state.backups.stop()
            app.state.worker.stop()
            engine.dispose()

    app = FastAPI(title="medscreen", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None,  # served by medscreen.server.docs, to signed-in users only
                  description="Glaucoma (fundus) and breast ultrasound screening for clinics. A screening aid, "
                              "not a diagnosis.")
    for language in LANGUAGES:  # each language's catalogue and templates: a missing catalogue fails app creation
        templates(language)
    app.state.data_home = home
    app.state.settings = settings
    app.state.login_throttle = LoginThrottle(settings.server)
    cookie = settings.server
    app.add_middleware(BodyGuard, limits=settings.limits, is_signed_in=is_signed_in, refuse=_error)
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie=cookie.session_cookie,
                       max_age=cookie.session_max_age_s, same_site=cookie.same_site, https_only=cookie.https_only)
    app.add_middleware(SecureCookieOnHttps, cookie_name=cookie.session_cookie)
    app.add_middleware(AccessLog)  # outermost: times everything, sees every status

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        for key, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(phone_setup.router)
    app.include_router(admin.router)
    if settings.server.api_docs:
        app.include_router(docs.router)
    _add_error_handlers(app)
    return app


def _start_backups(home: Path, url: str, settings: Settings) -> BackupScheduler | None:
    """The automatic backups' thread, started; None when they are off."""
    server = settings.server
    if server.backup_interval_hours <= 0:
        return None
    scheduler = BackupScheduler(home, url, backup_folder(home, server), interval_s=server.backup_interval_hours * 3600,
                                keep=server.backup_keep)
    scheduler.start()
    return scheduler


def _remove_leftovers(sessions: Any, blobs: BlobStore, home: Path, grace_s: float) -> None:
    """What a crash left: image files no record refers to, temporary image and overlay files."""
    with sessions() as session:
        remove_orphan_blobs(session, blobs, older_than=timedelta(seconds=grace_s))
    cutoff = time.time() - grace_s
    overlays = home / OVERLAY_DIR
    for tmp in overlays.glob("*.tmp") if overlays.is_dir() else []:
        if tmp.stat().st_mtime <= cutoff:
            tmp.unlink(missing_ok=True)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error(request: Request, status: int, message: str | Message) -> Response:
    """The API's JSON error (English), or the error page in the reader's language."""
    if _is_api(request):
        return JSONResponse({"detail": str(message)}, status_code=status)
    return render(request, "error.html", {"status": status, "message": message}, status_code=status)


def _record_denial(request: Request, exc: PermissionDeniedError) -> None:
    """The audit row of a refused access, in a transaction of its own (the request's is rolled back)."""
    try:
        with request.app.state.sessions() as session:
            audit_denial(session, exc, client_ip(request))
            session.commit()
    except Exception:  # noqa: BLE001 - the refusal is answered even when its audit row cannot be written
        logger.exception("could not audit a denied %s", exc.action)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    async def _unauthenticated(request: Request, exc: NotAuthenticated) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> Response:
        return _error(request, 413, str(exc.detail))

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return _error(request, 403, str(exc))

    @app.exception_handler(PermissionDeniedError)
    async def _denied(request: Request, exc: PermissionDeniedError) -> Response:
        await to_thread.run_sync(_record_denial, request, exc)
        if exc.other_clinic:  # as if missing: another clinic's ids cannot be probed
            return _error(request, 404, Message(N_("%(type)s %(id)s does not exist; check the id"),
                                                {"type": exc.object_type or "record", "id": str(exc.object_id)}))
        return _error(request, 403, str(exc))

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> Response:
        return _error(request, 404, str(exc))

    @app.exception_handler(UploadError)
    async def _upload(request: Request, exc: UploadError) -> Response:
        return _error(request, exc.status, exc.message)

    @app.exception_handler(StorageUnavailableError)
    async def _storage(request: Request, exc: StorageUnavailableError) -> Response:
        logger.error("storage fault: %s", exc)  # the path goes to the log, not to the person
        if exc.full:
            return _error(request, 507, N_("The clinic app's storage is full, so nothing was saved. Tell the "
                                           "person who looks after this computer; try again once space is freed."))
        return _error(request, 503, N_("The clinic app cannot save files right now, so nothing was saved. Tell "
                                       "the person who looks after this computer; try again later."))

    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: OperationalError) -> Response:
        logger.error("database fault: %s", exc.orig)
        return _error(request, 503, N_("The clinic app's database cannot be used right now (its disk may be "
                                       "full). Nothing was changed; try again in a minute."))

    @app.exception_handler(MedscreenError)
    async def _bad_request(request: Request, exc: MedscreenError) -> Response:
        return _error(request, 422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors())
        return _error(request, 422, problems or "the request is not valid")

