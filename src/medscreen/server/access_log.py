"""The HTTP access log: method, route template, status and time of each request — no patient data.

The route's *template* is logged (``/api/v1/patients/{patient_id}``), never
the path as requested, its query string, the client's address or any header,
so the log holds no patient identifiers or names and can be shared when
asking for help. Lines go to the ``medscreen.access`` logger;
:func:`start_access_log` (called by ``medscreen serve``) sends them to
``<data folder>/logs/access.log``, rotated by size (the standard library's
``RotatingFileHandler``).
"""

from __future__ import annotations

import logging
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medscreen.config import ServerSettings

__all__ = ["ACCESS_LOGGER", "AccessLog", "start_access_log"]

ACCESS_LOGGER = "medscreen.access"
LOG_DIR = "logs"


def _template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None) or getattr(route, "path_format", None)
    if path is None:
        return "(no route)"
    return f"{path}/…" if route.__class__.__name__ == "Mount" else path  # e.g. /static/…


class AccessLog:
    """ASGI middleware writing one line per HTTP request: ``GET /patients/{patient_id} 200 12.3ms``."""

    def __init__(self, app: ASGIApp, logger_name: str = ACCESS_LOGGER) -> None:
        self.app = app
        self.logger = logging.getLogger(logger_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # when the app fails before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.logger.info("%s %s %d %.1fms", scope["method"], _template(scope), status,
                             (time.perf_counter() - start) * 1000)


def start_access_log(data_home: Path, settings: ServerSettings) -> Path:
    """Send the access log to ``<data_home>/logs/access.log``, rotated at ``access_log_max_bytes``.

    Returns:
        The log file's path.
    """
    folder = Path(data_home) / LOG_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "access.log"
    handler = RotatingFileHandler(path, maxBytes=settings.access_log_max_bytes,
                                  backupCount=settings.access_log_backups, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.handlers = [h for h in logger.handlers if not isinstance(h, RotatingFileHandler)] + [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False  # not also on the terminal
    return path
