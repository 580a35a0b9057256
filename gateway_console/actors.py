"""Who does a change, and from where: a person, an admin token, or the system."""

import ipaddress
from dataclasses import dataclass
from typing import Any

from django.conf import settings

# The longest user agent kept (audit events, the addresses a key is seen from).
USER_AGENT_LENGTH = 300


@dataclass(frozen=True)
class Actor:
    """Who does a change, and from where. Views build it from the request, so services never
    touch the request themselves."""

    type: str  # "user", "admin_token" or "system"
    id: str
    label: str
    role: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    request_id: str = ""
    user: Any = None

    @classmethod
    def from_request(cls, request, *, user=None) -> "Actor":
        """The signed-in person making the request, with their role in the org at hand; or
        `user`, the person a request acts for before or apart from a sign-in (a failed sign-in,
        an accepted invitation, a password reset), with no role: it is written in each of
        their orgs (accounts.people)."""
        membership = getattr(request, "membership", None) if user is None else None
        user = request.user if user is None else user
        return cls(
            type="user",
            id=str(user.pk),
            label=user.email,
            role=membership.role if membership else "",
            ip_address=client_ip(request),
            user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_LENGTH],
            request_id=getattr(request, "request_id", ""),
            user=user,
        )

    @classmethod
    def system(cls, label: str = "system") -> "Actor":
        return cls(type="system", id="", label=label, role="")


def clean_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def gateway_client_ip(request) -> str | None:
    """The address of the gateway's client, for authorize (a key's allowlist, the addresses a
    key is seen from). A chain of its own, apart from PROXY_COUNT: the gateway appends the
    address it was connected from to X-Forwarded-For when it asks authorize, after the
    GATEWAY_PROXY_COUNT proxies in front of it appended theirs, so the client is the entry
    GATEWAY_PROXY_COUNT + 1 from the right. None when the header is shorter or that entry is
    no address: a key with an allowlist is then refused."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not forwarded:
        return None
    parts = forwarded.split(",")
    position = settings.GATEWAY_PROXY_COUNT + 1
    return clean_ip(parts[-position].strip()) if len(parts) >= position else None


def client_ip(request) -> str | None:
    """The address of the client, as the console's own proxies saw it (PROXY_COUNT).

    Each proxy appends the address it was connected from to X-Forwarded-For, so behind N
    proxies the client's address is the N-th entry from the right; whatever stands to its left
    was sent by the client and is not believed. Without proxies, or when the header has fewer
    entries than there are proxies (a request that did not come through them), or an entry
    that is no address, it is the address of the connection itself. Sign-in throttling (axes) and the audit log both read
    the address here."""
    count = settings.PROXY_COUNT
    if count > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= count and (address := clean_ip(forwarded[-count])):
            return address
    return clean_ip(request.META.get("REMOTE_ADDR"))
