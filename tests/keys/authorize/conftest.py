"""Authorize as the gateway calls it: the gateway's token, a priced plan and an org on it with
a funded wallet (tests.support.gateway)."""

from tests.support.gateway import *  # noqa: F403 (its fixtures: __all__ there)
