"""Sign-in throttling beyond the (email, address) pair that axes locks.

axes compares one limit with its counts, so the two wider limits keep their own counters in
the cache: failures per account from any address (SIGN_IN_ACCOUNT_FAILURE_LIMIT) and per address
on any account (SIGN_IN_ADDRESS_FAILURE_LIMIT), each over the axes cool-off window. Both are
above the pair's limit, so one guessing client is stopped by the pair's lockout long before it
could lock an account for everyone; many clients on one account, or one address spraying many
accounts, are stopped by these. Counters live in the cache: Redis, shared by every process, in
production; per process in the embedded default.
"""

import ipaddress
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.utils.crypto import salted_hmac

from gateway_console.actors import client_ip

ACCOUNT = "account"
ADDRESS = "address"


def window() -> timedelta:
    return timedelta(hours=settings.AXES_COOLOFF_TIME)


def limit_of(scope: str) -> int:
    return {
        ACCOUNT: settings.SIGN_IN_ACCOUNT_FAILURE_LIMIT,
        ADDRESS: settings.SIGN_IN_ADDRESS_FAILURE_LIMIT,
    }[scope]


def _keys(email: str | None, address: str | None) -> dict[str, str]:
    # Keyed hashes: neither an email nor an address can be read, or guessed, off the cache.
    prefix = settings.SIGN_IN_THROTTLE_PREFIX
    keys = {}
    if email:
        digest = salted_hmac("sign-in-account", email.strip().lower()).hexdigest()
        keys[ACCOUNT] = f"{prefix}:account:{digest}"
    if address:
        digest = salted_hmac("sign-in-address", counted_address(address)).hexdigest()
        keys[ADDRESS] = f"{prefix}:address:{digest}"
    return keys


def counted_address(address: str) -> str:
    """What the per-address limit counts: an IPv4 address, or an IPv6 address's /64, since one
    client commonly holds a whole /64 and could otherwise spray from a new address each time."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def count_failure(email: str | None, address: str | None) -> None:
    """One more failed sign-in for this account and this address. The window starts with the
    first failure; incr is atomic, so concurrent failures are all counted."""
    seconds = int(window().total_seconds())
    for key in _keys(email, address).values():
        cache.add(key, 0, timeout=seconds)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=seconds)


def refused(email: str | None, address: str | None) -> str | None:
    """ACCOUNT or ADDRESS when that counter has reached its limit, else None."""
    keys = _keys(email, address)
    counts = cache.get_many(list(keys.values()))
    for scope, key in keys.items():
        if counts.get(key, 0) >= limit_of(scope):
            return scope
    return None


def forget_account(email: str | None) -> None:
    """A successful sign-in: the account's count starts again (the address's does not)."""
    key = _keys(email, None).get(ACCOUNT)
    if key:
        cache.delete(key)


class ThrottleBackend:
    """Refuses every sign-in attempt, right or wrong, while the account or the address is over
    its limit: on the sign-in page and in Django admin's alike. It authenticates no one itself;
    it stands after axes and before the model backend, and has no get_user, so that sessions
    stay the model backend's."""

    def authenticate(self, request, username=None, **credentials):
        scope = refused(username, client_ip(request) if request is not None else None)
        if scope is not None:
            if request is not None:
                request.sign_in_refused = scope  # for the sign-in page to say which limit
            raise PermissionDenied
        return None


def on_failure(sender, credentials, request=None, **kwargs) -> None:
    """A wrong password counts; an attempt refused by a lockout (axes' pair, or these limits)
    does not, so that one client hammering away at its lockout cannot lock the account for
    everyone."""
    if request is not None and (
        getattr(request, "axes_locked_out", False) or getattr(request, "sign_in_refused", False)
    ):
        return
    count_failure(credentials.get("username"), client_ip(request) if request is not None else None)


def on_success(sender, request, user, **kwargs) -> None:
    forget_account(user.email)


# Password reset emails: at most this many to one address an hour, so that nobody's inbox can
# be flooded through the "forgot your password" form (which answers the same either way).
RESET_MAILS_PER_HOUR = 3


def reset_mail_allowed(email: str) -> bool:
    """Counts one reset email to `email`; False once the hour's allowance is used."""
    digest = salted_hmac("password-reset", email.strip().lower()).hexdigest()
    key = f"{settings.SIGN_IN_THROTTLE_PREFIX}:reset:{digest}"
    cache.add(key, 0, timeout=3600)
    try:
        sent = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600)
        sent = 1
    return sent <= RESET_MAILS_PER_HOUR
