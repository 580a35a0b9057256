"""Who does a change, and from where: a person, an admin token, or the system."""

import ipaddress
from dataclasses import dataclass
from typing import Any


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
    def from_request(cls, request) -> "Actor":
        membership = getattr(request, "membership", None)
        return cls(
            type="user",
            id=str(request.user.pk),
            label=request.user.email,
            role=membership.role if membership else "",
            ip_address=clean_ip(request.META.get("REMOTE_ADDR")),
            user_agent=request.headers.get("User-Agent", "")[:300],
            request_id=getattr(request, "request_id", ""),
            user=request.user,
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
