"""HTTPS without internet: a phone-style client that trusts only the generated CA gets the app on the LAN address."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from medscreen.cli.main import app as cli
from medscreen.server.lan import lan_addresses


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_client_trusting_only_the_generated_ca_gets_the_page_over_tls(tmp_path: Path) -> None:
    home = tmp_path / "clinic"
    address = (lan_addresses() or ["127.0.0.1"])[0]
    r = CliRunner().invoke(cli, ["tls", "init", "--data-dir", str(home)])
    assert r.exit_code == 0, r.output
    ca = home / "tls" / "ca.crt"
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    server = subprocess.Popen([sys.executable, "-m", "medscreen", "serve", "--host", "0.0.0.0", "--port", str(port),
                               "--tls", "--data-dir", str(home)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    phone = ssl.create_default_context(cafile=str(ca))  # trusts this CA and nothing else
    try:
        deadline, page = time.monotonic() + 60, None
        while page is None:
            try:
                page = httpx.get(f"https://{address}:{port}/login", verify=phone, timeout=5)
            except httpx.ConnectError as exc:
                if isinstance(exc.__cause__, ssl.SSLCertVerificationError) or time.monotonic() > deadline:
                    raise
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.3)
        assert page.status_code == 200 and "Sign in" in page.text
        cookie = page.headers.get("set-cookie", "")
        assert cookie.startswith("medscreen_session=") and "secure" in cookie.lower()
        cert = httpx.get(f"https://{address}:{port}/ca.crt", verify=phone, timeout=5)
        assert cert.headers["content-type"] == "application/x-x509-ca-cert"
        assert cert.content == ca.read_bytes() and b"PRIVATE" not in cert.content
        steps = httpx.get(f"https://{address}:{port}/phone-setup", verify=phone, timeout=5).text
        assert "Android" in steps and "iPhone" in steps
        with pytest.raises(httpx.ConnectError):  # a client without the CA refuses the laptop's certificate
            httpx.get(f"https://{address}:{port}/login", verify=ssl.create_default_context(), timeout=5)
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=20)
    assert f"https://{address}:{port}/" in out or address == "127.0.0.1", out
