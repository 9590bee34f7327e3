"""HTTPS on a laptop without internet: a local certificate authority and a server certificate.

``medscreen tls init`` makes, in ``<data_home>/tls``, a certificate authority
(``ca.crt``, kept for ten years, so phones install it once) and a server
certificate for the laptop's LAN addresses, ``localhost`` and its host name
(``server.crt``; 825 days, the longest iOS accepts). Running it again after
the laptop's address changed re-issues the server certificate with the same
authority. Keys are P-256 (Android and iOS accept them) and written 0600.
A clinic's own certificate is given instead with ``--tls-cert/--tls-key``.

Built on the ``cryptography`` package (imported inside the functions, so the
app's import stays light).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from medscreen.errors import ConfigError

__all__ = ["CA_FILE", "TLS_DIR", "CertificateInfo", "TlsFiles", "certificate_info", "init_tls", "tls_files"]

TLS_DIR = "tls"
CA_FILE, CA_KEY, SERVER_FILE, SERVER_KEY = "ca.crt", "ca.key", "server.crt", "server.key"
CA_DAYS, SERVER_DAYS = 3650, 825


@dataclass(frozen=True)
class TlsFiles:
    """The files ``uvicorn`` needs, and the CA certificate phones install (None for a clinic's own certificate)."""

    cert: Path
    key: Path
    ca: Path | None


@dataclass(frozen=True)
class CertificateInfo:
    """What ``medscreen doctor`` checks of a certificate: when it expires and which names and addresses it covers."""

    not_after: datetime
    dns_names: list[str]
    ip_addresses: list[str]

    def days_left(self, now: datetime | None = None) -> float:
        return (self.not_after - (now or datetime.now(UTC))).total_seconds() / 86400


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fp:
        fp.write(data)


def _new_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _key_usage(*, ca: bool):
    """Signing only; a CA also signs certificates and revocation lists."""
    from cryptography import x509

    return x509.KeyUsage(digital_signature=True, key_cert_sign=ca, crl_sign=ca, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                         decipher_only=False)


def _make_ca(folder: Path, host: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"medscreen clinic CA ({host})"[:64]),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "medscreen")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    (folder / CA_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(folder / CA_KEY, _pem_key(key))
    return cert, key


def _load_ca(folder: Path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate((folder / CA_FILE).read_bytes())
    key = serialization.load_pem_private_key((folder / CA_KEY).read_bytes(), password=None)
    return cert, key


def init_tls(data_home: Path, addresses: list[str], *, new_ca: bool = False) -> TlsFiles:
    """Make (or keep) the local CA and issue a server certificate for ``addresses``, localhost and the host name.

    Args:
        data_home: the data folder; files go in ``<data_home>/tls``.
        addresses: the laptop's LAN addresses (IPv4/IPv6 literals) to put in the certificate.
        new_ca: replace an existing CA too (phones must then install the new one).

    Returns:
        The server certificate, its key and the CA certificate.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = Path(data_home) / TLS_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    host = socket.gethostname() or "localhost"
    if new_ca or not ((folder / CA_FILE).is_file() and (folder / CA_KEY).is_file()):
        ca_cert, ca_key = _make_ca(folder, host)
    else:
        ca_cert, ca_key = _load_ca(folder)
    ips = list(dict.fromkeys(["127.0.0.1", *addresses]))
    dns = list(dict.fromkeys(n for n in ("localhost", host, f"{host}.local") if n and n != "localhost.local"))
    san = [x509.DNSName(n) for n in dns] + [x509.IPAddress(ipaddress.ip_address(a)) for a in ips]
    key = _new_key()
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (addresses or [host])[0][:64])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (folder / SERVER_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(folder / SERVER_KEY, _pem_key(key))
    return TlsFiles(folder / SERVER_FILE, folder / SERVER_KEY, folder / CA_FILE)


def tls_files(data_home: Path, cert: Path | None = None, key: Path | None = None) -> TlsFiles:
    """The certificate and key to serve: a clinic's own (``cert`` and ``key``) or those of ``medscreen tls init``.

    Raises:
        ConfigError: only one of ``cert``/``key`` given, a file missing, or ``tls init`` not run yet.
    """
    if (cert is None) != (key is None):
        raise ConfigError("give both --tls-cert and --tls-key (the certificate and its private key), or neither "
                          "to use the one `medscreen tls init` made")
    if cert is not None and key is not None:
        for path, what in ((cert, "--tls-cert"), (key, "--tls-key")):
            if not Path(path).is_file():
                raise ConfigError(f"{what} {path} does not exist; give the path of the PEM file")
        return TlsFiles(Path(cert), Path(key), None)
    folder = Path(data_home) / TLS_DIR
    files = TlsFiles(folder / SERVER_FILE, folder / SERVER_KEY, folder / CA_FILE)
    if not (files.cert.is_file() and files.key.is_file()):
        raise ConfigError(f"no certificate in {folder}; make one with `medscreen tls init --data-dir {data_home}`, "
                          "or give the clinic's own with --tls-cert and --tls-key")
    return files


def certificate_info(path: Path) -> CertificateInfo:
    """Expiry and subject alternative names of the first certificate in a PEM file.

    Raises:
        ConfigError: the file is not a PEM certificate.
    """
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable PEM certificate ({exc}); give a PEM file") from None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns, ips = san.get_values_for_type(x509.DNSName), [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns, ips = [], []
    return CertificateInfo(cert.not_valid_after_utc, dns, ips)
