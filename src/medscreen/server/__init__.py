"""The clinic web app: pages for health workers and reviewers, a JSON API for scripts, a screening worker pool.

Build it with :func:`create_app` (``medscreen serve`` runs it with uvicorn).
"""

from __future__ import annotations

from medscreen.server.app import create_app

__all__ = ["create_app"]
