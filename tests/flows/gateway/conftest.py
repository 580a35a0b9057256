"""Authorize and usage together, as the gateway calls them: the gateway's token, a priced plan and an org on it with
a funded wallet (tests.support.gateway)."""

from tests.support.gateway import *  # noqa: F403 (its fixtures: __all__ there)
