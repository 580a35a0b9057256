"""Alert webhooks are URLs typed by org admins and fetched by the console: without a guard, an
admin could make the console POST to its own network (server-side request forgery).

`checked_target(url)` resolves the URL's host once and checks every address it resolves to:
each must be public (below). Delivery then connects to those checked addresses and to nothing
else (billing.alerts.pinned): a second lookup, which a rebinding DNS server could answer with
127.0.0.1 or 169.254.169.254, never happens. ALERT_WEBHOOK_ALLOW_PRIVATE (tests, development)
lets loopback and private addresses through; the connection is pinned all the same.

What an admin reads names no address (the log has them): the settings form does not tell
which internal names exist or where they point, whether a name does not resolve or resolves to
a private address."""

import ipaddress
import socket
from typing import NamedTuple
from urllib.parse import urlsplit

from django.conf import settings

# Ranges `ipaddress` calls global (Python 3.11) that still reach, or stand for, other networks:
# IPv4 embedded in IPv6 (a NAT64 gateway or a 6to4/Teredo relay would carry the request to
# whatever IPv4 address is inside, 127.0.0.1 included), and ranges that are not unicast
# receivers on the internet.
NOT_PUBLIC = tuple(
    ipaddress.ip_network(network)
    for network in (
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "::/96",  # IPv4-compatible IPv6 (deprecated)
        "::ffff:0:0/96",  # IPv4-mapped IPv6
        "64:ff9b::/96",  # NAT64, the well-known prefix
        "64:ff9b:1::/48",  # NAT64, the local-use prefix
        "2001::/32",  # Teredo
        "2002::/16",  # 6to4
        "3fff::/20",  # documentation
        "fec0::/10",  # site-local (deprecated)
    )
)
BAD_URL = "Use an https:// (or http://) address."


class Refused(Exception):
    """Why the console will not deliver to a URL. `str()` is for the admin and names no
    address; `detail` (what resolved to what) is for the server log."""

    def __init__(self, message: str, detail: str = "", *, unresolved: bool = False):
        super().__init__(message)
        self.detail = detail or message
        # The name did not resolve (now): a delivery tries again later.
        self.unresolved = unresolved


class Target(NamedTuple):
    """Where one delivery goes: the URL's parts and the addresses checked for it."""

    scheme: str
    host: str  # for the Host header, TLS's SNI and the certificate check
    port: int
    path: str  # path and query, for the request line
    addresses: tuple[tuple[int, tuple], ...]  # (family, sockaddr) pairs, in resolver order


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global unicast address outside the ranges above."""
    return (
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not any(
            address in network for network in NOT_PUBLIC if network.version == address.version
        )
    )


def _parts(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise Refused(BAD_URL) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(BAD_URL)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def checked_target(url: str) -> Target:
    """The URL's one resolution, every address checked; raises Refused."""
    scheme, host, port, path = _parts(url)
    message = (
        f"{host} does not resolve to a public address: the console only delivers alerts to "
        "public receivers."
    )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise Refused(message, f"{host} does not resolve: {exc}", unresolved=True) from None
    addresses = []
    for family, _, _, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        try:
            address = ipaddress.ip_address(sockaddr[0])
        except ValueError:
            raise Refused(message, f"{host} resolves to {sockaddr[0]!r}") from None
        if not (settings.ALERT_WEBHOOK_ALLOW_PRIVATE or is_public(address)):
            raise Refused(message, f"{host} resolves to {address}, which is not public")
        if (family, sockaddr) not in addresses:
            addresses.append((family, sockaddr))
    if not addresses:
        raise Refused(message, f"{host} has no IPv4 or IPv6 address", unresolved=True)
    return Target(scheme, host, port, path, tuple(addresses))


def refusal(url: str) -> str | None:
    """Why the settings form will not save this URL, or None when it will. With
    ALERT_WEBHOOK_ALLOW_PRIVATE on, any http(s) URL is saved (its host is resolved, and
    checked, at each delivery)."""
    if settings.ALERT_WEBHOOK_ALLOW_PRIVATE:
        return None
    try:
        checked_target(url)
    except Refused as refused:
        return str(refused)
    return None


def redacted(url: str) -> str:
    """The URL's scheme and host (and port) only, for the audit log, pages and server logs:
    a webhook's path and query (and any user:password@) are often its secret. `…` marks what
    was left out: `https://hooks.example.com/…`."""
    if not url:
        return url
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    rest = parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc
    return f"{origin}/…" if rest else origin
