"""``medscreen doctor``: check an installation and say what to do about each problem.

Each check is a small function returning :class:`Check` results — the bundled
models against their cards' SHA-256, the database schema, free disk space, the
data folder's permissions, the port, the LAN address, when HTTPS is set up the
certificate's expiry and addresses, and when automatic backups are on the newest
one's age. Nothing is changed and no database is created.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Literal

from medscreen.config import Settings
from medscreen.errors import MedscreenError
from medscreen.inference.card import load_card
from medscreen.io.images import file_sha256
from medscreen.server.auto_backup import automatic_backups, backup_folder
from medscreen.server.lan import lan_addresses
from medscreen.server.tls import CA_FILE, SERVER_FILE, TLS_DIR, certificate_info
from medscreen.store.database import (
    current_revision,
    database_url,
    has_database,
    head_revision,
)

__all__ = ["Check", "check_backups", "run_checks"]

Level = Literal["ok", "warn", "fail"]
#: free space below which saving images is at risk (fail) or soon will be (warn), in bytes
DISK_FAIL, DISK_WARN = 1 << 30, 5 << 30
#: days before a certificate's expiry when doctor starts warning
CERT_WARN_DAYS = 30


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, ``ok``/``warn``/``fail``, what was found, and what to do (empty when ok)."""

    name: str
    level: Level
    found: str
    fix: str = ""


def check_models() -> list[Check]:
    """Each bundled ``<task>.onnx`` has its card (``<task>.json``) and its bytes match the card's SHA-256."""
    folder = Path(str(resources.files("medscreen") / "weights"))
    onnx = sorted(folder.glob("*.onnx"))
    if not onnx:
        return [Check("models", "fail", f"no bundled models in {folder}", "reinstall medscreen (make install)")]
    checks = []
    for path in onnx:
        card = path.with_suffix(".json")
        try:
            expected = load_card(card).sha256
        except MedscreenError:
            checks.append(Check(f"model {path.stem}", "fail", f"its card {card.name} is missing or unreadable",
                                "reinstall medscreen (make install)"))
            continue
        actual = file_sha256(path)
        if expected and actual != expected:
            checks.append(Check(f"model {path.stem}", "fail", f"{path.name} SHA-256 {actual[:12]}… differs from its "
                                f"card's {expected[:12]}…", "reinstall medscreen (make install); do not edit weights"))
        else:
            checks.append(Check(f"model {path.stem}", "ok", f"{path.name} matches its card ({actual[:12]}…)"))
    return checks


def check_database(home: Path, settings: Settings) -> Check:
    """The database exists and is at the newest migration."""
    url = database_url(home, settings.database.url)
    try:
        if not has_database(url):
            return Check("database", "fail", f"no clinic database in {home}",
                         f"run `medscreen init --data-dir {home}`, or set MEDSCREEN_HOME to the clinic's data folder")
        now, head = current_revision(url), head_revision()
    except MedscreenError as exc:  # unreachable (PostgreSQL down, a wrong password…) or a bad URL: it says what to do
        return Check("database", "fail", str(exc))
    if now != head:
        return Check("database", "warn", f"schema at migration {now}, this medscreen has {head}",
                     "make a backup (`medscreen backup --out FILE`); `medscreen serve` then upgrades it at start")
    return Check("database", "ok", f"schema at the newest migration ({head})")


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(home: Path) -> Check:
    """Free space where the data folder lives."""
    free = shutil.disk_usage(_existing(home)).free
    found = f"{free / 2**30:.1f} GiB free for {home}"
    if free < DISK_FAIL:
        return Check("disk", "fail", found, "free space now: uploads are refused when the disk is full")
    if free < DISK_WARN:
        return Check("disk", "warn", found, "free some space, or move the data folder to a larger disk")
    return Check("disk", "ok", found)


def check_permissions(home: Path) -> Check:
    """The data folder exists, is writable and is readable by its owner only (patient data)."""
    if not home.is_dir():
        return Check("folder", "fail", f"{home} does not exist", f"run `medscreen init --data-dir {home}`")
    if not os.access(home, os.W_OK | os.X_OK):
        return Check("folder", "fail", f"{home} is not writable by this user",
                     "run medscreen as the folder's owner, or fix its owner (chown)")
    mode = stat.S_IMODE(home.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        return Check("folder", "warn", f"{home} is readable by others (mode {mode:o})", f"chmod 700 {home}")
    return Check("folder", "ok", f"{home} is writable and private")


def check_port(host: str, port: int) -> Check:
    """Nothing else listens on ``host:port``."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return Check("port", "fail", f"cannot listen on {host}:{port} ({exc.strerror})",
                         "stop the other program (another medscreen?) or use --port with a free port")
    return Check("port", "ok", f"{host}:{port} is free")


def check_lan(addresses: list[str]) -> Check:
    """The laptop has an address phones can reach."""
    if not addresses:
        return Check("network", "warn", "no LAN address", "connect this laptop to the clinic's Wi-Fi or router")
    return Check("network", "ok", f"phones can reach this laptop at {', '.join(addresses)}")


def check_tls(home: Path, settings: Settings, addresses: list[str]) -> Check | None:
    """The certificate in use (a clinic's own, else ``tls init``'s) is valid a while yet and covers the LAN address."""
    own = settings.server.tls_cert
    cert = Path(own) if own else home / TLS_DIR / SERVER_FILE
    if not cert.is_file():
        return None if not own else Check("https", "fail", f"certificate {cert} is missing", "fix --tls-cert")
    info = certificate_info(cert)
    days = info.days_left()
    renew = "give the clinic's renewed certificate" if own else f"run `medscreen tls init --data-dir {home}`"
    if days <= 0:
        return Check("https", "fail", f"{cert.name} expired {-days:.0f} days ago", renew)
    missing = [a for a in addresses if a not in info.ip_addresses]
    if missing and not own:
        return Check("https", "warn", f"{cert.name} does not cover {', '.join(missing)} (the address changed)",
                     f"run `medscreen tls init --data-dir {home}` (phones keep the CA {CA_FILE})")
    if days < CERT_WARN_DAYS:
        return Check("https", "warn", f"{cert.name} expires in {days:.0f} days", renew)
    return Check("https", "ok", f"{cert.name} valid for {days:.0f} more days")


def check_backups(home: Path, settings: Settings, now: datetime | None = None) -> Check | None:
    """When automatic backups are on: the newest is at most two intervals old. None when they are off."""
    server = settings.server
    if server.backup_interval_hours <= 0:
        return None
    folder = backup_folder(home, server)
    backups = automatic_backups(folder)
    every = f"every {server.backup_interval_hours:g} h"
    if not backups:
        return Check("backups", "warn", f"automatic backups {every}, none yet in {folder}",
                     "start `medscreen serve` (it writes the first at once); if it runs, read its log for why not")
    made, newest = backups[-1]
    age_h = ((now or datetime.now(UTC)) - made).total_seconds() / 3600
    found = f"newest automatic backup {newest.name} is {age_h:.1f} h old ({every}, {len(backups)} kept)"
    if age_h > 2 * server.backup_interval_hours:
        return Check("backups", "warn", found, f"is `medscreen serve` running? Its log says why backups into "
                                               f"{folder} fail (disk full? not writable?)")
    return Check("backups", "ok", found)


def run_checks(home: Path, settings: Settings, *, host: str = "0.0.0.0", port: int = 8000,
               addresses: list[str] | None = None) -> list[Check]:
    """Every check, in the order a person would fix them.

    Args:
        home: the data folder.
        settings: database URL and TLS settings.
        host, port: where ``medscreen serve`` will listen.
        addresses: the LAN addresses (default: found now).
    """
    addresses = lan_addresses() if addresses is None else addresses
    checks = [check_permissions(home), check_database(home, settings), check_disk(home), *check_models(),
              check_port(host, port), check_lan(addresses)]
    optional = [check_tls(home, settings, addresses), check_backups(home, settings)]
    return checks + [c for c in optional if c]
