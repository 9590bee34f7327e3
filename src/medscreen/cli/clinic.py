"""``medscreen init``, ``doctor``, ``backup``, ``restore`` and ``tls init``: setting up and looking after a clinic laptop."""

from __future__ import annotations

from pathlib import Path

import typer

from medscreen.cli._clinic import DATA_DIR_OPTION, data_home, open_database
from medscreen.cli._common import console, err_console, handle_errors
from medscreen.errors import ConfigError

__all__ = ["backup_command", "doctor_command", "init_command", "restore_command", "tls_app"]

tls_app = typer.Typer(help="HTTPS for phones on the clinic network, without internet.", no_args_is_help=True)


@handle_errors
def init_command(data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """Make the clinic's data folder and database (or upgrade an existing one), then say what comes next."""
    from medscreen.server.security import load_secret_key

    home = data_home(data_dir)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine, _ = open_database(home, create=True)
    engine.dispose()
    load_secret_key(home)
    console.print(f"clinic data folder ready: {home}\nnext: medscreen users create admin --admin"
                  + ("" if data_dir is None else f" --data-dir {home}"), highlight=False, soft_wrap=True)


@handle_errors
def doctor_command(
    data_dir: Path | None = DATA_DIR_OPTION,
    host: str = typer.Option("0.0.0.0", "--host", help="The address `serve` will listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="The port `serve` will listen on."),
) -> None:
    """Check this installation (models, database, disk, folder, port, network, HTTPS) and say what to fix."""
    from medscreen.config import get_settings
    from medscreen.server.doctor import run_checks

    home = data_home(data_dir)
    checks = run_checks(home, get_settings(), host=host, port=port)
    marks = {"ok": "[green]ok  [/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}
    console.print(f"data folder: {home}", highlight=False, soft_wrap=True)
    for c in checks:
        console.print(f"{marks[c.level]} {c.name}: {c.found}" + (f"\n     → {c.fix}" if c.fix else ""),
                      highlight=False, soft_wrap=True)
    failed = [c for c in checks if c.level == "fail"]
    if failed:
        raise typer.Exit(code=1)


@handle_errors
def backup_command(
    out: Path = typer.Option(..., "--out", help="The archive to write (.tar), outside the data folder."),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Back up the database, images and overlays into one archive with SHA-256 sums (safe while serving)."""
    from medscreen.config import get_settings
    from medscreen.store.backup import create_backup
    from medscreen.store.database import database_url

    home = data_home(data_dir)
    open_database(home)[0].dispose()  # says what to do when there is no database
    summary = create_backup(home, database_url(home, get_settings().database.url), out)
    console.print(f"backed up {len(summary.files)} files ({summary.total_bytes / 1e6:.1f} MB) of {home} to "
                  f"{summary.path}", highlight=False, soft_wrap=True)


@handle_errors
def restore_command(
    archive: Path = typer.Argument(..., help="A `medscreen backup` archive."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="The data folder to restore into (new or empty)."),
    verify: bool = typer.Option(False, "--verify", help="Only check the archive's files and database; restore nothing."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty folder (it is kept, renamed, beside it)."),
) -> None:
    """Restore a backup into a new data folder (stop the server first), or --verify an archive."""
    from medscreen.store.backup import restore_backup, verify_backup

    if not archive.is_file():
        raise ConfigError(f"no archive {archive}; give the file `medscreen backup --out` wrote")
    if verify:
        summary = verify_backup(archive)
        console.print(f"{archive}: {len(summary.files)} files verified ({summary.total_bytes / 1e6:.1f} MB, made "
                      f"{summary.created}, schema {summary.revision})", highlight=False, soft_wrap=True)
        return
    if data_dir is None:
        raise ConfigError("give --data-dir DIR, the folder to restore into (then serve with --data-dir DIR or "
                          "MEDSCREEN_HOME=DIR)")
    summary, moved = restore_backup(archive, data_dir, force=force)
    home = data_dir.expanduser().resolve()
    if moved is not None:
        err_console.print(f"the folder that was there is kept as {moved}", highlight=False, soft_wrap=True)
    engine, _ = open_database(home)  # upgrades a backup made by an older medscreen
    engine.dispose()
    console.print(f"restored {len(summary.files)} files into {home}", highlight=False, soft_wrap=True)


@tls_app.command("init")
@handle_errors
def tls_init_command(
    data_dir: Path | None = DATA_DIR_OPTION,
    address: list[str] = typer.Option([], "--address", help="An address to cover (default: the laptop's LAN "
                                                            "addresses); repeat for several."),
    new_ca: bool = typer.Option(False, "--new-ca", help="Replace the certificate authority too (phones must "
                                                        "install the new one)."),
) -> None:
    """Make a local certificate authority and a certificate for this laptop's LAN addresses (for `serve --tls`)."""
    from medscreen.server.lan import lan_addresses
    from medscreen.server.tls import init_tls

    home = data_home(data_dir)
    addresses = address or lan_addresses()
    files = init_tls(home, addresses, new_ca=new_ca)
    console.print(f"certificate for {', '.join(addresses) or 'localhost only'}: {files.cert}\n"
                  f"phones install the CA {files.ca} once: open /phone-setup on the app for the steps\n"
                  "next: medscreen serve --host 0.0.0.0 --tls", highlight=False, soft_wrap=True)
