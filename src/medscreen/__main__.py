"""``python -m medscreen``: the ``medscreen`` command."""

from __future__ import annotations

from medscreen.cli.main import app

app(prog_name="medscreen")
