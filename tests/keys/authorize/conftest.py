"""Authorize as the gateway calls it: the gateway's token, a priced plan and an org on it with
a funded wallet (tests.support.gateway)."""

from tests.support.gateway import (  # noqa: F401 (fixtures)
    authorize,
    gateway_tokens,
    org,
    plan,
    post_usage,
    prices,
    wallet,
)
