"""A cursor the console did not give out never makes a list answer a 500, on PostgreSQL or on
SQLite (marked smoke: SQLite overflows where PostgreSQL compares): digits that are not ASCII,
numbers past a 64-bit column, negative numbers, times that have no UTC equivalent, times
without an offset. A page starts over from its first page; the admin API answers 400
`invalid_cursor` where a cursor can be malformed (docs/contract.md section 4)."""

import base64
import json
from datetime import datetime
from decimal import Decimal

import pytest

from billing.ledger.models import WalletEntry
from gateway_console.paging import Column, decode
from tests.factories import make_key
from tests.support.api import error_of

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]

ZERO_ID = "00000000-0000-0000-0000-000000000000"
# Python's datetimes reach from year 1 to 9999; these have no time in UTC, where the database
# compares.
PAST_THE_CALENDAR = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]
NUMBERS = ["²", "١٢", "-5", "0", "1.5", str(2**63 - 1), str(2**63), str(2**64), "9" * 400]


def _multi(*values) -> str:
    """A cursor of several columns, written the way paging.encode writes one."""
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


HOSTILE = [
    *NUMBERS,
    *PAST_THE_CALENDAR,
    "2026-01-01T00:00:00",
    *(_multi(moment, 1) for moment in PAST_THE_CALENDAR),
    *(_multi(moment, ZERO_ID) for moment in PAST_THE_CALENDAR),
    *(_multi(None, moment, ZERO_ID) for moment in PAST_THE_CALENDAR),
    *(_multi(moment, "a", ZERO_ID) for moment in PAST_THE_CALENDAR),
    _multi(2**64, "a", ZERO_ID),
    _multi("²", "a", ZERO_ID),
]


@pytest.mark.parametrize("moment", [*PAST_THE_CALENDAR, "2026-01-01T00:00:00", "not a time"])
def test_a_time_cursor_without_a_utc_time_or_offset_decodes_to_none(moment):
    assert decode(_multi(moment, ZERO_ID), [Column("at", kind=datetime), Column("id")]) is None


def test_a_time_cursor_is_compared_in_utc():
    columns = [Column("at", kind=datetime), Column("id")]

    [at, _] = decode(_multi("2026-01-01T09:00:00+09:00", ZERO_ID), columns)

    assert at.isoformat() == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "sNaN", "x"])
def test_a_decimal_cursor_must_be_a_finite_number(number):
    assert decode(number, [Column("amount", kind=Decimal)]) is None


def test_a_whole_number_cursor_past_64_bits_still_decodes():
    # The database is never asked about it: Django answers a lookup past the column's range
    # itself (no row is above it, every row below it).
    assert decode(str(2**64), [Column("seq", kind=int)]) == [2**64]


@pytest.fixture
def lists(org, team):
    """Every list page that pages by cursor, and what its first page shows."""
    key, _ = make_key(org, name="billing-prod", team=team, monthly_spend_cap=Decimal("10"))
    WalletEntry.objects.create(
        org=org,
        kind="top_up",
        amount_micros=1_000_000,
        balance_after_micros=1_000_000,
        reason="the first top-up",
        reference="ref-1",
    )
    return {
        "/billing/ledger/": "the first top-up",
        "/audit/": "Audit log",
        "/billing/alerts/": "Alerts",
        # Ordered by one text column: any text is a cursor there.
        "/teams/": None,
        f"/teams/{team.pk}/": None,
        "/keys/": key.name,
        "/keys/?sort=-last_used": key.name,
        "/keys/?sort=name": key.name,
        f"/keys/{key.pk}/requests/": key.name,
        "/billing/caps/": key.name,
        "/billing/caps/?sort=period_end": key.name,
        "/billing/caps/?sort=name": key.name,
        "/members/": "owner@example.com",
        "/admin-tokens/": "Admin tokens",
    }


@pytest.mark.parametrize("param", ["before", "after"])
def test_every_list_page_answers_a_hostile_cursor_with_its_first_page(owner_client, lists, param):
    for url, shown in lists.items():
        joiner = "&" if "?" in url else "?"
        for cursor in HOSTILE:
            response = owner_client.get(f"{url}{joiner}{param}={cursor}")

            assert response.status_code == 200, (url, cursor)
            if shown and param == "before" and cursor in ("²", "١٢", "-5", *PAST_THE_CALENDAR):
                # Not a cursor: the first page, its row included.
                assert shown in response.content.decode(), (url, cursor)


def test_the_ledger_takes_before_in_other_digits_for_no_cursor(owner_client, lists):
    first = owner_client.get("/billing/ledger/")

    for cursor in ("²", "١٢", "-1", "9" * 400):
        response = owner_client.get("/billing/ledger/", {"before": cursor})

        assert response.status_code == 200
        assert [e.pk for e in response.context["entries"]] == [
            e.pk for e in first.context["entries"]
        ]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/keys",
        "/api/v1/keys?sort=-last_used",
        "/api/v1/audit-events",
        "/api/v1/admin-tokens",
    ],
)
def test_an_api_list_refuses_a_malformed_cursor_with_400_invalid_cursor(api, key, path):
    joiner = "&" if "?" in path else "?"
    for cursor in ["²", "١٢", "-5", *PAST_THE_CALENDAR, *HOSTILE[-10:]]:
        response = api.get(f"{path}{joiner}cursor={cursor}")

        if response.status_code == 422:  # longer than the list's cursors can be
            assert error_of(response)["param"] == "cursor", (path, cursor)
            continue
        assert response.status_code == 400, (path, cursor, response.content)
        assert error_of(response)["code"] == "invalid_cursor"


@pytest.mark.parametrize("path", ["/api/v1/audit-events", "/api/v1/teams", "/api/v1/members"])
def test_an_api_list_answers_a_cursor_past_its_rows_with_an_empty_page(api, key, path):
    cursor = "0" if path == "/api/v1/audit-events" else "\uffff"

    response = api.get(path, {"cursor": cursor})

    assert response.status_code == 200, response.content
    assert response.json() == {"data": [], "next_cursor": None}


def test_a_key_id_cursor_that_is_not_a_uuid_is_refused(api, key):
    response = api.get("/api/v1/keys", {"cursor": _multi(key.created_at.isoformat(), "x")})

    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_cursor"
