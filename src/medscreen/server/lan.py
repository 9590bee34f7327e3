"""The laptop's addresses on the clinic network, and the URLs a phone opens.

Found with the standard library only (no ``netifaces``): the address the
operating system would use to reach a private network — a UDP ``connect``
sends no packet — plus whatever the host name resolves to. Loopback and
link-local addresses are left out (a phone cannot use them).
"""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["ANY_HOSTS", "lan_addresses", "phone_urls"]

#: listen addresses that mean "every network"
ANY_HOSTS = frozenset({"0.0.0.0", "::", ""})
#: private addresses used only to ask the OS for its outgoing interface (nothing is sent)
_PROBES = ("10.255.255.255", "192.168.255.255", "172.31.255.255")


def _usable(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.version == 4 and not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def lan_addresses() -> list[str]:
    """The IPv4 addresses of this machine that another device on the network can reach, primary first.

    Returns:
        Dotted addresses, without duplicates; empty when the machine is on no network.
    """
    found: list[str] = []
    for probe in _PROBES:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.connect((probe, 9))
                found.append(s.getsockname()[0])
            except OSError:
                continue
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        found += [str(info[4][0]) for info in infos]
    except OSError:
        pass
    return [a for a in dict.fromkeys(found) if _usable(a)]


def phone_urls(host: str, port: int, *, tls: bool = False, addresses: list[str] | None = None) -> list[str]:
    """The URLs to open on a phone for a server listening on ``host:port``.

    Args:
        host: the listen address; ``0.0.0.0`` (or ``::``) means every LAN address of the laptop.
        port: the listen port.
        tls: ``https`` rather than ``http``.
        addresses: the LAN addresses (default :func:`lan_addresses`).

    Returns:
        One URL per reachable address; empty when the server listens on loopback only (phones cannot reach it).
    """
    scheme = "https" if tls else "http"
    if host in ANY_HOSTS:
        hosts = addresses if addresses is not None else lan_addresses()
    elif _usable(host) or not _is_loopback_name(host):
        hosts = [host]
    else:
        hosts = []
    return [f"{scheme}://{h}:{port}/" for h in hosts]


def _is_loopback_name(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
