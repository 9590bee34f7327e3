"""How phones reach this laptop: ``/admin/network`` (the address and its QR code, for admins),
``/phone-setup`` and ``/ca.crt`` (how a phone comes to trust this laptop's HTTPS certificate).

The last two are open without signing in — a CA certificate is public, and a phone
must install it before it can sign in over HTTPS without a warning. Only the
certificate authority ``medscreen tls init`` made is offered (never a key);
with a clinic's own certificate there is nothing to install.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from medscreen.server.deps import PageUser
from medscreen.server.lan import lan_addresses
from medscreen.server.services import NotFoundError
from medscreen.server.templating import render
from medscreen.server.tls import CA_FILE, TLS_DIR
from medscreen.store.users import require

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/ca.crt")
def ca_certificate(request: Request) -> FileResponse:
    """The local CA certificate (PEM), typed so that Android and iOS offer to install it."""
    path = request.app.state.data_home / TLS_DIR / CA_FILE
    if not path.is_file():
        raise NotFoundError("this clinic app has no local certificate authority; an admin makes one with "
                            "`medscreen tls init`")
    return FileResponse(path, media_type="application/x-x509-ca-cert", filename="medscreen-clinic-ca.crt")


@router.get("/phone-setup")
def phone_setup_page(request: Request) -> Response:
    """Install steps for Android and iOS."""
    has_ca = (request.app.state.data_home / TLS_DIR / CA_FILE).is_file()
    return render(request, "phone_setup.html", {"has_ca": has_ca})


@router.get("/admin/network")
def network_page(request: Request, auth: PageUser) -> Response:
    """The addresses phones on the clinic network open, with a QR code (admins: it is part of setting up)."""
    import segno

    require(auth.user, "clinic.manage")
    tls = request.url.scheme == "https"
    port = request.url.port or (443 if tls else 80)
    urls = [f"{request.url.scheme}://{a}:{port}/" for a in lan_addresses()]
    qr = segno.make(urls[0], error="m").svg_inline(scale=6, border=2) if urls else None
    return render(request, "admin_network.html", {"urls": urls, "qr": qr, "tls": tls}, user=auth.user)
