"""audit.diff: the one way services write an event's before/after."""

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import audit


def test_only_what_changed_is_recorded_in_json_types():
    before = {"name": "a", "cap": Decimal("5.000000"), "scope": ("x",), "rpm": 60}
    after = {"name": "a", "cap": Decimal("7.500000"), "scope": ("x", "y"), "rpm": 60}

    assert audit.diff(before, after) == {
        "cap": {"before": "5.000000", "after": "7.500000"},
        "scope": {"before": ["x"], "after": ["x", "y"]},
    }


def test_the_same_instant_in_two_time_zones_is_no_change():
    utc = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    paris = utc.astimezone(ZoneInfo("Europe/Paris"))

    assert audit.diff({"expires_at": utc}, {"expires_at": paris}) == {}
    assert audit.diff({}, {"expires_at": paris}) == {
        "expires_at": {"before": None, "after": "2026-12-01T12:00:00+00:00"}
    }
