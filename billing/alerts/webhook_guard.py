"""Alert webhooks are URLs typed by org admins and fetched by the console: without a guard, an
admin could make the console POST to its own network (server-side request forgery). Addresses
that are not public are refused unless ALERT_WEBHOOK_ALLOW_PRIVATE is on."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


def refusal(url: str) -> str | None:
    """Why the console will not deliver to this URL, or None when it will."""
    if settings.ALERT_WEBHOOK_ALLOW_PRIVATE:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Use an https:// (or http://) address."
    try:
        infos = socket.getaddrinfo(
            parts.hostname,
            parts.port or (443 if parts.scheme == "https" else 80),
            proto=socket.IPPROTO_TCP,
        )
    except (socket.gaierror, UnicodeError):
        return f"The host {parts.hostname} cannot be resolved."
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return (
                f"{parts.hostname} resolves to {address}, which is not a public address; "
                "the console only delivers alerts to public receivers."
            )
    return None
