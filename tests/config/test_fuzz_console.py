"""Issue 13, "no 500 on any input": every console page under generated query parameters and
form data, signed in as an owner with a fresh step-up (force_login) and signed out, and URLs
that match no route. Parameter names are the page's own form fields and the lists' query parameters, plus
arbitrary ones; values are arbitrary text (NUL, unicode digits, huge numbers, impossible dates,
real and foreign ids). A page may answer anything but a 5xx.

Bounded to run in CI: a fixed number of examples per page, derandomized, no example database."""

import re

import pytest
from django.urls import get_resolver
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.config.test_security_headers import _routes, _url, world  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

EXAMPLES_PER_PAGE = 10
FUZZ = settings(
    max_examples=EXAMPLES_PER_PAGE,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
# JSON (the admin API, its own fuzzing) and Django's admin are left out.
SKIPPED = ("api/v1/", "admin/")
FIELD_NAME = re.compile(r'\sname="([^"]+)"')
QUERY_NAMES = [
    "cursor", "sort", "search", "status", "team", "from", "to", "granularity", "by_model",
    "range", "period", "model", "action", "actor", "target", "since", "until", "q", "limit",
    "format", "key", "role", "next", "type", "request_id", "org", "page", "export",
]  # fmt: skip
ODD_VALUES = [
    "", " ", "0", "-1", "1e999", "NaN", "Infinity", "-Infinity", "9" * 40, "0.0000001",
    "²", "٣", "１２", "\x00", "a\x00b", "true", "null", "[]", "{}",
    "2026-13-45", "0001-01-01", "9999-12-31", "9999-12-31T23:59:59+14:00", "0001-01-01T00:00",
    "00000000-0000-0000-0000-000000000000", "not-a-uuid", "../../etc/passwd", "<script>",
    "%00", "%", "=", "&", "day", "hour", "monthly", "owner", "admin", "member", "auditor",
    "disable", "enable", "delete", "move", "-name", "name", "created_at", "🙂" * 50,
]  # fmt: skip


def _values(ids: list[str]):
    return (
        st.text(max_size=30)
        | st.sampled_from(ODD_VALUES + ids)
        | st.integers(min_value=-(10**30), max_value=10**30).map(str)
    )


def _parameters(names: list[str], ids: list[str]):
    """A query or form: known names and a few arbitrary ones, each with one or more values."""
    name = st.sampled_from(names) | st.text(min_size=1, max_size=12)
    return st.lists(st.tuples(name, st.lists(_values(ids), min_size=1, max_size=2)), max_size=6)


def _as_data(pairs) -> dict[str, list[str]]:
    data: dict[str, list[str]] = {}
    for name, values in pairs:
        data.setdefault(name, []).extend(values)
    return data


def _field_names(client, url: str) -> list[str]:
    response = client.get(url)
    if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
        return []
    return sorted(set(FIELD_NAME.findall(response.content.decode())) - {"csrfmiddlewaretoken"})


def _sign_in_again(client, membership) -> None:
    """A page may sign the owner out or end the org's session: each example starts signed in
    with a fresh step-up."""
    from tests.conftest import _client_for

    fresh = _client_for(membership)
    client.cookies = fresh.cookies


def _fuzz_every_page(client, world, *, sign_in=None) -> dict[str, set[int]]:  # noqa: F811
    """GET and POST generated parameters to every console page; the statuses each answered."""
    ids = [str(value) for value in world.values()]
    routes = [r for r in _routes(get_resolver().url_patterns) if not r.startswith(SKIPPED)]
    assert len(routes) > 50
    answered: dict[str, set[int]] = {}

    for route in routes:
        url = _url(route, world)
        names = sorted(set(_field_names(client, url) + QUERY_NAMES))

        @given(
            method=st.sampled_from(["GET", "POST"]),
            pairs=_parameters(names, ids),
            htmx=st.booleans(),
        )
        @FUZZ
        def call(method, pairs, htmx):
            if sign_in is not None:
                sign_in()
            data = _as_data(pairs)
            headers = {"HX-Request": "true"} if htmx else {}
            if method == "GET":
                response = client.get(url, data, headers=headers)
            else:
                response = client.post(url, data, headers=headers)
            assert response.status_code < 500, (method, url, data, response.status_code)
            answered.setdefault(route, set()).add(response.status_code)

        call()
    return answered


def test_every_console_page_takes_any_query_and_form_from_an_owner(
    owner_client,
    owner_membership,
    world,  # noqa: F811
):
    answered = _fuzz_every_page(
        owner_client, world, sign_in=lambda: _sign_in_again(owner_client, owner_membership)
    )

    # The run got past the forms on most pages (not only redirects and refusals).
    assert sum(200 in statuses for statuses in answered.values()) > 30


def test_every_console_page_takes_any_query_and_form_signed_out(
    client,
    world,  # noqa: F811
):
    """Sign-in, its second step, password reset and invitations are the forms anyone reaches."""
    answered = _fuzz_every_page(client, world)

    public = {route for route, statuses in answered.items() if 200 in statuses}
    assert {"sign-in/", "password-reset/"} <= public, public


@given(path=st.text(min_size=1, max_size=40))
@settings(FUZZ, max_examples=60)
def test_any_path_signed_in_is_answered(owner_client, path):
    response = owner_client.get("/" + path.lstrip("/"))

    assert response.status_code < 500
