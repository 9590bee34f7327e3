"""What the clinic commands share: the data folder, its database, and the addresses a phone opens."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import typer

from medscreen.cli._common import console
from medscreen.errors import ConfigError

__all__ = ["DATA_DIR_OPTION", "data_home", "open_database", "print_phone_urls"]

DATA_DIR_OPTION = typer.Option(
    None, "--data-dir",
    help="Data folder (database, images); default MEDSCREEN_HOME, else the per-user folder "
         "`medscreen doctor` names.",
)


def data_home(data_dir: Path | None) -> Path:
    """``--data-dir`` when given, else the configured data folder (``MEDSCREEN_HOME`` or the per-user default)."""
    from medscreen.config import get_settings
    from medscreen.store.database import default_data_home

    return data_dir.expanduser().resolve() if data_dir is not None else default_data_home(get_settings())


def open_database(home: Path, *, create: bool = False) -> tuple[Any, Any]:
    """An engine and a session factory for the data folder's database, migrated to the newest schema.

    Args:
        home: the data folder.
        create: make the database when there is none (``serve`` and ``init`` only).

    Raises:
        ConfigError: there is no database and ``create`` is False; the message says how to make one.
    """
    from sqlalchemy import make_url

    from medscreen.config import get_settings
    from medscreen.store.database import database_url, has_database, make_engine, session_factory, upgrade

    url = database_url(home, get_settings().database.url)
    if not create and not has_database(url):
        where = f"in {home}" if url.startswith("sqlite") else f"at {make_url(url).render_as_string(hide_password=True)}"
        raise ConfigError(
            f"no clinic database {where}; make one with `medscreen init --data-dir {home}` (or start "
            "`medscreen serve`), or point --data-dir / MEDSCREEN_HOME at the clinic's existing data folder"
        )
    engine = make_engine(url)
    upgrade(engine)
    return engine, session_factory(engine)


def print_phone_urls(host: str, port: int, *, tls: bool = False) -> list[str]:
    """Print the URLs a phone on the clinic network opens, with a QR code for the first; returns them."""
    from medscreen.server.lan import phone_urls

    urls = phone_urls(host, port, tls=tls)
    if not urls:
        if host in ("0.0.0.0", "::", ""):
            console.print("No network address found: connect this laptop to the clinic's Wi-Fi, then restart.",
                          highlight=False, soft_wrap=True)
        else:
            console.print(f"Phones cannot reach {host}: start with --host 0.0.0.0 (make run HOST=0.0.0.0) "
                          "to serve the clinic network.", highlight=False, soft_wrap=True)
        return urls
    console.print("On a phone on the same network, open:", highlight=False)
    for url in urls:
        console.print(f"  {url}", highlight=False, soft_wrap=True)
    console.print(qr_text(urls[0]), highlight=False, soft_wrap=True, markup=False)
    return urls


def qr_text(data: str) -> str:
    """A QR code of ``data`` drawn with block characters, for a terminal (scan it with the phone's camera)."""
    import segno

    buffer = io.StringIO()
    segno.make(data, error="m").terminal(out=buffer, compact=True, border=2)
    return buffer.getvalue().rstrip("\n")
