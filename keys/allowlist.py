"""A key's IP allowlist: the addresses and ranges (IPv4 and IPv6, CIDR) it may be used from.
Empty: any address. Checked at authorize against the gateway's client address
(gateway_console.actors.gateway_client_ip); refused as 403 `ip_not_allowed`, naming no range
(docs/contract.md section 2)."""

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

MAX_ENTRIES = 100

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _entry(text: str) -> str:
    """One entry as stored: an address alone ('203.0.113.7', '2001:db8::1'), a range with its
    prefix ('203.0.113.0/24'); ValueError with a sentence that names it."""
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv4 or IPv6 address or range.") from None
    try:
        ipaddress.ip_network(text)
    except ValueError:
        raise ValueError(
            f"{text} has bits set past its /{network.prefixlen}: the range is {network}."
        ) from None
    if network.num_addresses == 1:
        address = network.network_address
        mapped = getattr(address, "ipv4_mapped", None)
        return str(mapped or address)
    return str(network)


def parse(entries: Iterable[str]) -> list[str]:
    """The entries as stored (normalised, in order, each once), or ValueError naming the first
    that is not an address or range, or saying there are too many."""
    found: list[str] = []
    for text in entries:
        text = text.strip()
        if text and (entry := _entry(text)) not in found:
            found.append(entry)
    if len(found) > MAX_ENTRIES:
        raise ValueError(f"At most {MAX_ENTRIES} addresses or ranges; {len(found)} were given.")
    return found


@lru_cache(maxsize=4096)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry) for entry in entries)


def allows(entries: Iterable[str], address: str | None) -> bool:
    """Whether `address` is in one of `entries` (stored, so well-formed). No entries: any
    address; an unknown address: none."""
    entries = tuple(entries)
    if not entries:
        return True
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _networks(entries))
