"""``medscreen serve``, ``medscreen users …`` and ``medscreen export-labels``: the clinic server's commands.

``users``: create, list, deactivate, reactivate, reset-password, token (make one), and
``users tokens list`` / ``users tokens revoke``. Deactivating an account or resetting
its password ends its signed-in sessions; each change is audited (no user: the command line).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from medscreen.cli._clinic import DATA_DIR_OPTION, data_home, open_database, print_phone_urls
from medscreen.cli._common import console, err_console, handle_errors
from medscreen.errors import ConfigError

__all__ = ["export_labels_command", "serve_command", "users_app"]

users_app = typer.Typer(help="Manage the clinic server's accounts.", no_args_is_help=True)
tokens_app = typer.Typer(help="List and revoke API tokens.", no_args_is_help=True)
users_app.add_typer(tokens_app, name="tokens")

@handle_errors
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every network, so phones "
                                                        "on the clinic Wi-Fi can reach it)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    data_dir: Path | None = DATA_DIR_OPTION,
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Screening threads."),
    tls: bool = typer.Option(False, "--tls", help="Serve HTTPS with the certificate `medscreen tls init` made."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="The clinic's own certificate (PEM); implies --tls."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="The private key (PEM) of --tls-cert."),
    backup_every: float | None = typer.Option(None, "--backup-every", min=0, metavar="HOURS",
                                              help="Back up automatically every HOURS while serving (0: off; default "
                                                   "MEDSCREEN_SERVER__BACKUP_INTERVAL_HOURS, off)."),
    backup_keep: int | None = typer.Option(None, "--backup-keep", min=1, metavar="N",
                                           help="Automatic backups kept, the oldest deleted (default 7)."),
) -> None:
    """Run the clinic web app (pages and the JSON API) with uvicorn; prints the address phones open."""
    import uvicorn
    from sqlalchemy import func, select

    from medscreen.config import get_settings
    from medscreen.server import create_app
    from medscreen.server.access_log import start_access_log
    from medscreen.server.auto_backup import backup_folder
    from medscreen.server.tls import tls_files
    from medscreen.store.models import User

    settings = get_settings()
    backups = {k: v for k, v in {"backup_interval_hours": backup_every, "backup_keep": backup_keep}.items()
               if v is not None}
    if backups:
        settings = settings.model_copy(update={"server": settings.server.model_copy(update=backups)})
    home = data_home(data_dir)
    tls_cert, tls_key = tls_cert or settings.server.tls_cert, tls_key or settings.server.tls_key
    files = tls_files(home, tls_cert, tls_key) if (tls or tls_cert or tls_key) else None
    engine, sessions = open_database(home, create=True)
    with sessions() as s:
        users = s.scalar(select(func.count()).select_from(User))
    engine.dispose()
    app = create_app(home, workers=workers, settings=settings)
    log_file = start_access_log(home, settings.server) if settings.server.access_log else None
    scheme = "https" if files else "http"
    console.print(f"medscreen serving {home} at {scheme}://{host}:{port}/ (API docs: /api/docs); Ctrl+C stops it",
                  highlight=False, soft_wrap=True)
    if log_file:
        console.print(f"access log: {log_file}", highlight=False, soft_wrap=True)
    if settings.server.backup_interval_hours > 0:
        console.print(f"automatic backups every {settings.server.backup_interval_hours:g} h into "
                      f"{backup_folder(home, settings.server)}, the newest {settings.server.backup_keep} kept",
                      highlight=False, soft_wrap=True)
    urls = print_phone_urls(host, port, tls=files is not None)
    if files is not None and files.ca is not None and urls:
        console.print(f"Phones trust this laptop once they install its certificate: {urls[0]}phone-setup",
                      highlight=False, soft_wrap=True)
    if not users:
        console.print(f"No user yet. Create the first admin with:\n  medscreen users create admin --admin "
                      f"--data-dir {home}", highlight=False, soft_wrap=True)
    ssl = {"ssl_certfile": str(files.cert), "ssl_keyfile": str(files.key)} if files else {}
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, **ssl)


def _read_password(password_stdin: bool, prompt: str = "Password") -> str:
    if password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise ConfigError("--password-stdin: no password on standard input; pipe it in, e.g. "
                              "'printf %s \"$PW\" | medscreen users create ... --password-stdin'")
        return line
    return typer.prompt(prompt, hide_input=True, confirmation_prompt=True)


@users_app.command("create")
@handle_errors
def create_user_command(
    username: str = typer.Argument(..., help="3-64 characters a-z, 0-9, '.', '_', '-'."),
    admin: bool = typer.Option(False, "--admin", help="Make an admin (all clinics)."),
    role: str | None = typer.Option(None, "--role", help="reviewer or health_worker (or admin)."),
    clinic: str | None = typer.Option(None, "--clinic", help="Clinic name; made when new. Required unless admin."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
    language: str | None = typer.Option(None, "--language", help="The language of the user's pages and PDFs "
                                        "(en, fr); default: the server's."),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Create an account; the password is prompted twice (hidden) unless --password-stdin."""
    from medscreen.store.clinics import find_or_create_clinic
    from medscreen.store.users import create_user, parse_role, parse_user_language

    if admin and role not in (None, "admin"):
        raise ConfigError(f"--admin and --role {role} disagree; give one of them")
    if not admin and role is None:
        raise ConfigError("give --admin or --role reviewer|health_worker")
    chosen = parse_role("admin" if admin else role)
    if chosen.value != "admin" and not clinic:
        raise ConfigError(f"a {chosen.value} belongs to a clinic; add --clinic NAME")
    parse_user_language(language)  # before the password prompt
    password = _read_password(password_stdin)
    home = data_home(data_dir)
    engine, sessions = open_database(home)
    try:
        with sessions() as s:
            place = find_or_create_clinic(s, clinic) if clinic else None
            user = create_user(s, username, password, chosen, place, language=language)
            s.commit()
            where = f" of clinic {place.name!r}" if place else ""
            console.print(f"created {chosen.value} {user.username!r}{where} in {home}", highlight=False)
    finally:
        engine.dispose()


@users_app.command("token")
@handle_errors
def create_token_command(
    username: str = typer.Argument(..., help="The account the token acts as."),
    name: str = typer.Option(..., "--name", help="What the token is for, e.g. 'nightly export'."),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Make an API token for scripts (Authorization: Bearer …); it is printed once and only its hash is kept."""
    from medscreen.store.users import create_api_token, find_user

    home = data_home(data_dir)
    engine, sessions = open_database(home)
    try:
        with sessions() as s:
            user = find_user(s, username)
            token = create_api_token(s, user, name)
            s.commit()
        console.print(f"API token for {username!r} ({name}); it is shown only now:", highlight=False)
        console.print(token, highlight=False, soft_wrap=True)
    finally:
        engine.dispose()

def _with_user(data_dir: Path | None, username: str, change) -> str:
    """Run ``change(session, user) -> message`` on one account in a transaction; returns the message."""
    from medscreen.store.users import find_user

    engine, sessions = open_database(data_home(data_dir))
    try:
        with sessions() as s:
            message = change(s, find_user(s, username))
            s.commit()
            return message
    finally:
        engine.dispose()


@users_app.command("list")
@handle_errors
def list_users_command(data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """List the accounts: username, role, clinic, active or not, language (- for the server's default)."""
    from medscreen.store.users import list_users

    engine, sessions = open_database(data_home(data_dir))
    try:
        with sessions() as s:
            for user in list_users(s):
                clinic = user.clinic.name if user.clinic else "-"
                state = "active" if user.active else "deactivated"
                console.print(f"{user.username}\t{user.role.value}\t{clinic}\t{state}\t{user.language or '-'}",
                              highlight=False)
    finally:
        engine.dispose()


def _switch_active(data_dir: Path | None, username: str, active: bool) -> None:
    from medscreen.store.audit import audit
    from medscreen.store.users import set_active

    def change(s, user) -> str:
        set_active(s, user, active)
        audit(s, None, "user.reactivate" if active else "user.deactivate", "user", user.id)
        return f"reactivated {user.username!r}" if active else \
            f"deactivated {user.username!r}; signed-in sessions ended"

    console.print(_with_user(data_dir, username, change), highlight=False)


@users_app.command("language")
@handle_errors
def language_command(username: str = typer.Argument(..., help="The account."),
                     language: str = typer.Argument(..., help="en or fr; 'default' for the server's language."),
                     data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """Set the language of an account's pages and PDF reports (the API and command line stay English)."""
    from medscreen.store.audit import audit
    from medscreen.store.users import set_language

    def change(s, user) -> str:
        set_language(s, user, None if language.strip().lower() == "default" else language)
        audit(s, None, "user.language", "user", user.id)
        return f"{user.username!r} reads {user.language or 'the server default language'}"

    console.print(_with_user(data_dir, username, change), highlight=False)


@users_app.command("deactivate")
@handle_errors
def deactivate_command(username: str = typer.Argument(..., help="The account to lock out."),
                       data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """Deactivate an account: its sessions end now and its API tokens stop working (reactivate undoes it)."""
    _switch_active(data_dir, username, False)


@users_app.command("reactivate")
@handle_errors
def reactivate_command(username: str = typer.Argument(..., help="The account to let in again."),
                       data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """Reactivate a deactivated account (its unrevoked API tokens work again)."""
    _switch_active(data_dir, username, True)


@users_app.command("reset-password")
@handle_errors
def reset_password_command(
    username: str = typer.Argument(..., help="The account whose password is replaced."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the new password from standard input."),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Set a new password (prompted twice, hidden, unless --password-stdin); the account's sessions end."""
    from medscreen.store.audit import audit
    from medscreen.store.users import set_password

    password = _read_password(password_stdin, "New password")

    def change(s, user) -> str:
        set_password(s, user, password)
        audit(s, None, "user.password_reset", "user", user.id)
        return f"new password set for {user.username!r}; signed-in sessions ended"

    console.print(_with_user(data_dir, username, change), highlight=False)


@tokens_app.command("list")
@handle_errors
def list_tokens_command(
    username: str | None = typer.Option(None, "--user", help="Only this account's tokens."),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """List API tokens: id, account, name, created, last used, revoked or not (never the token itself)."""
    from medscreen.store.users import find_user, list_api_tokens

    engine, sessions = open_database(data_home(data_dir))
    try:
        with sessions() as s:
            owner = find_user(s, username) if username else None
            for t in list_api_tokens(s, owner):
                used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
                state = "revoked" if t.revoked else "active"
                console.print(f"{t.id}\t{t.user.username}\t{t.name}\t{t.created_at:%Y-%m-%d}\t{used}\t{state}",
                              highlight=False)
    finally:
        engine.dispose()


@tokens_app.command("revoke")
@handle_errors
def revoke_token_command(
    token_id: int = typer.Argument(..., min=1, help="The token's id, from `medscreen users tokens list`."),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Revoke an API token for good."""
    from medscreen.store.audit import audit
    from medscreen.store.database import get_row
    from medscreen.store.models import ApiToken
    from medscreen.store.users import revoke_api_token

    engine, sessions = open_database(data_home(data_dir))
    try:
        with sessions() as s:
            token = get_row(s, ApiToken, token_id)
            if token is None:
                raise ConfigError(f"no API token {token_id}; list them with `medscreen users tokens list`")
            revoke_api_token(s, token)
            audit(s, None, "token.revoke", "api_token", token.id)
            s.commit()
            console.print(f"revoked token {token_id} ({token.name!r} of {token.user.username!r})", highlight=False)
    finally:
        engine.dispose()


@handle_errors
def export_labels_command(
    out: Path = typer.Option(..., "--out", help="CSV manifest to write."),
    data_dir: Path | None = DATA_DIR_OPTION,
    task: str | None = typer.Option(None, "--task", help="glaucoma, progression or breast-class (default all)."),
) -> None:
    """Write reviewers' verdicts as a training manifest (CSV)."""
    from medscreen.store.labels import export_labels

    home = data_home(data_dir)
    engine, sessions = open_database(home)
    try:
        with sessions() as s:
            n = export_labels(s, out, home, task=task)
    finally:
        engine.dispose()
    err_console.print(f"wrote {n} labels to {out}", highlight=False)
