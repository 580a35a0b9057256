import re
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit import Actor
from gateway_console import secret
from keys import selectors, services
from keys.models import Key, KeyStatus
from keys.services import KeySettings
from tests.factories import TeamFactory, make_key

pytestmark = pytest.mark.django_db

LIST = "/keys/"
# Session, user, membership, one page of keys, the org switcher's memberships, the teams of
# the filter and the nav's new-alerts badge (not for members): the same for 5 keys as for 60.
LIST_QUERIES = 7
# Session, user, membership, the key (with team, creator and org), its counters, its audit
# trail, the switcher, the alerts badge, the last 7 days' usage (one query of the rollups), and
# where it was seen from this week (keys.sightings), and its last week's spend (the forecast).
DETAIL_QUERIES = 11


def _names(response) -> list[str]:
    return re.findall(r'class="keyname">([^<]+)</a>', response.content.decode())


def _bulk_keys(org, count: int, **fields) -> list[Key]:
    """Many keys at once, for list tests that are not about how keys are made."""
    now = timezone.now()
    keys = []
    for i in range(count):
        plaintext = secret.new_secret()
        keys.append(
            Key(
                org=org,
                name=fields.get("name", f"key{i:03d}"),
                team=fields.get("team"),
                secret_hash=secret.secret_hash(plaintext),
                display_prefix=secret.display_prefix(plaintext),
                last4=secret.last4(plaintext),
                created_at=now - timedelta(minutes=i),
                updated_at=now,
            )
        )
    return Key.objects.bulk_create(keys)


# Search


def test_search_by_name(admin_client, org):
    make_key(org, name="billing-prod")
    make_key(org, name="Billing-staging")
    make_key(org, name="search-prod")

    response = admin_client.get(LIST, {"q": "billing"})

    assert sorted(_names(response)) == ["Billing-staging", "billing-prod"]


def test_search_by_preview(admin_client, org):
    key, _ = make_key(org, name="wanted")
    make_key(org, name="other")

    response = admin_client.get(LIST, {"q": key.preview})

    assert _names(response) == ["wanted"]
    assert key.preview == f"{key.display_prefix}…{key.last4}"


def test_search_by_preview_typed_with_three_dots(admin_client, org):
    key, _ = make_key(org, name="wanted")
    make_key(org, name="other")

    response = admin_client.get(LIST, {"q": f"{key.display_prefix}...{key.last4}"})

    assert _names(response) == ["wanted"]


def test_search_by_preview_with_the_wrong_last4_finds_nothing(admin_client, org):
    key, _ = make_key(org, name="wanted")
    wrong = "AAAA" if key.last4 != "AAAA" else "BBBB"

    response = admin_client.get(LIST, {"q": f"{key.display_prefix}…{wrong}"})

    assert _names(response) == []
    assert "No keys match these filters." in response.content.decode()


def test_search_by_the_start_of_the_key(admin_client, org):
    key, _ = make_key(org, name="wanted")
    make_key(org, name="other")

    response = admin_client.get(LIST, {"q": key.display_prefix})

    assert _names(response) == ["wanted"]


def test_search_by_user_id(admin_client, org):
    make_key(org, name="alice-key", user_id="user-42")
    make_key(org, name="bob-key", user_id="user-420")

    response = admin_client.get(LIST, {"q": "user-42"})

    assert _names(response) == ["alice-key"]


def test_search_by_the_full_plaintext_finds_nothing(admin_client, org):
    _, plaintext = make_key(org, name="wanted")

    response = admin_client.get(LIST, {"q": plaintext})

    assert _names(response) == []


# Filters


def test_filter_by_team(admin_client, org, team, other_team):
    make_key(org, name="search-key", team=team)
    make_key(org, name="platform-key", team=other_team)
    make_key(org, name="teamless")

    assert _names(admin_client.get(LIST, {"team": str(team.pk)})) == ["search-key"]
    assert _names(admin_client.get(LIST, {"team": str(other_team.pk)})) == ["platform-key"]
    assert _names(admin_client.get(LIST, {"team": "none"})) == ["teamless"]
    assert _names(admin_client.get(LIST, {"team": "not-a-uuid"})) == []


def test_filter_by_a_team_of_another_org_shows_nothing(admin_client, org, other_org):
    foreign = TeamFactory(org=other_org, name="Foreign")
    make_key(other_org, name="foreign-key", team=foreign)
    make_key(org, name="mine")

    assert _names(admin_client.get(LIST, {"team": str(foreign.pk)})) == []


@pytest.fixture
def keys_in_every_status(org):
    actor = Actor.system("tests")
    make_key(org, name="active-key")
    disabled, _ = make_key(org, name="disabled-key")
    services.disable_key(key=disabled, actor=actor)
    deleted, _ = make_key(org, name="deleted-key")
    services.delete_key(key=deleted, actor=actor)
    expired, _ = make_key(org, name="expired-key", expires_at=timezone.now() + timedelta(days=1))
    Key.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    make_key(org, name="expiring-key", expires_at=timezone.now() + timedelta(days=1))


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("active", ["active-key", "expiring-key"]),
        ("disabled", ["disabled-key"]),
        ("expired", ["expired-key"]),
        ("deleted", ["deleted-key"]),
        ("", ["active-key", "disabled-key", "expired-key", "expiring-key"]),
        ("bogus", ["active-key", "disabled-key", "expired-key", "expiring-key"]),
    ],
)
def test_filter_by_status(admin_client, keys_in_every_status, status, expected):
    response = admin_client.get(LIST, {"status": status})

    assert sorted(_names(response)) == expected


def test_default_list_hides_deleted_keys(admin_client, keys_in_every_status):
    html = admin_client.get(LIST).content.decode()

    assert "deleted-key" not in html
    assert "badge-expired" in html


def test_search_team_and_status_combine(admin_client, org, team):
    make_key(org, name="billing-a", team=team)
    make_key(org, name="billing-b")
    off, _ = make_key(org, name="billing-c", team=team)
    services.disable_key(key=off, actor=Actor.system("tests"))

    response = admin_client.get(LIST, {"q": "billing", "team": str(team.pk), "status": "active"})

    assert _names(response) == ["billing-a"]


# Sorts


@pytest.fixture
def sortable_keys(org):
    now = timezone.now()
    made = {}
    for offset, name in enumerate(["charlie", "alpha", "delta", "bravo"]):
        key, _ = make_key(org, name=name)
        Key.objects.filter(pk=key.pk).update(created_at=now - timedelta(hours=offset))
        made[name] = key
    Key.objects.filter(pk=made["delta"].pk).update(last_used_at=now - timedelta(minutes=1))
    Key.objects.filter(pk=made["alpha"].pk).update(last_used_at=now - timedelta(minutes=5))
    return made


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("", ["charlie", "alpha", "delta", "bravo"]),
        ("-created", ["charlie", "alpha", "delta", "bravo"]),
        ("created", ["bravo", "delta", "alpha", "charlie"]),
        ("name", ["alpha", "bravo", "charlie", "delta"]),
        ("-name", ["delta", "charlie", "bravo", "alpha"]),
        ("-last_used", ["delta", "alpha"]),  # then the never-used keys
        ("nonsense", ["charlie", "alpha", "delta", "bravo"]),
    ],
)
def test_sorts(admin_client, sortable_keys, sort, expected):
    names = _names(admin_client.get(LIST, {"sort": sort}))

    assert names[: len(expected)] == expected
    assert sorted(names) == ["alpha", "bravo", "charlie", "delta"]


# Keyset pagination


def _tricky_keys(org, team) -> list[Key]:
    """60 keys with repeated names, repeated creation times and a third never used."""
    now = timezone.now()
    keys = _bulk_keys(org, 60)
    for i, key in enumerate(keys):
        key.name = f"key{i % 20:03d}"  # every name three times
        key.created_at = now - timedelta(minutes=i // 3)  # every time three times
        if i % 3 == 0:
            key.last_used_at = None
        else:
            key.last_used_at = now - timedelta(seconds=(i % 7) * 10)  # many ties
        key.team = team if i % 2 else None
    Key.objects.bulk_update(keys, ["name", "created_at", "last_used_at", "team"])
    return list(Key.objects.filter(org=org))


def _expected(keys: list[Key], sort: str) -> list[uuid.UUID]:
    by_id = lambda k: k.pk.int  # noqa: E731
    if sort == "-created":
        ordered = sorted(keys, key=lambda k: (k.created_at, by_id(k)), reverse=True)
    elif sort == "created":
        ordered = sorted(keys, key=lambda k: (k.created_at, by_id(k)))
    elif sort == "name":
        ordered = sorted(keys, key=lambda k: (k.name, by_id(k)))
    elif sort == "-name":
        ordered = sorted(keys, key=lambda k: (k.name, by_id(k)), reverse=True)
    else:  # -last_used: most recent first, never used last
        used = [k for k in keys if k.last_used_at is not None]
        never = [k for k in keys if k.last_used_at is None]
        ordered = sorted(used, key=lambda k: (k.last_used_at, by_id(k)), reverse=True)
        ordered += sorted(never, key=by_id, reverse=True)
    return [k.pk for k in ordered]


@pytest.mark.parametrize("sort", list(selectors.SORTS))
def test_keyset_pagination_walks_forward_and_back_in_order(admin_membership, org, team, sort):
    keys = _tricky_keys(org, team)
    expected = _expected(keys, sort)

    pages = [selectors.keys_visible_to(admin_membership, sort=sort, page_size=25)]
    while pages[-1].next_cursor:
        pages.append(
            selectors.keys_visible_to(
                admin_membership, sort=sort, page_size=25, after=pages[-1].next_cursor
            )
        )

    assert [len(p.rows) for p in pages] == [25, 25, 10]
    assert pages[0].prev_cursor is None
    assert pages[-1].next_cursor is None
    walked = [k.pk for p in pages for k in p.rows]
    assert walked == expected
    assert len(set(walked)) == 60

    back = [pages[-1]]
    while back[-1].prev_cursor:
        back.append(
            selectors.keys_visible_to(
                admin_membership, sort=sort, page_size=25, before=back[-1].prev_cursor
            )
        )

    assert [[k.pk for k in p.rows] for p in reversed(back)] == [
        [k.pk for k in p.rows] for p in pages
    ]
    # Going back from the first page's successor lands on a first page again.
    assert back[-1].prev_cursor is None
    assert back[-1].next_cursor is not None


@pytest.mark.parametrize("sort", list(selectors.SORTS))
def test_keyset_pagination_with_a_filter(admin_membership, org, team, sort):
    keys = _tricky_keys(org, team)
    expected = _expected([k for k in keys if k.team_id == team.pk], sort)

    walked, after = [], ""
    while True:
        page = selectors.keys_visible_to(
            admin_membership, sort=sort, team=str(team.pk), page_size=7, after=after
        )
        walked += [k.pk for k in page.rows]
        if not page.next_cursor:
            break
        after = page.next_cursor

    assert walked == expected


def test_page_links_walk_the_whole_list_in_the_browser(admin_client, org, team):
    keys = _tricky_keys(org, team)
    expected = [str(pk) for pk in _expected(keys, "name")]

    seen, url, pages = [], LIST + "?sort=name", []
    while url:
        response = admin_client.get(url)
        html = response.content.decode()
        pages.append(html)
        seen += re.findall(r'<tr id="key-row-([0-9a-f-]+)"', html)
        match = re.search(r'<a class="button" href="([^"]+)"[^>]*rel="next"', html)
        url = LIST + match.group(1).replace("&amp;", "&") if match else None

    assert seen == expected
    assert len(pages) == 3
    assert 'rel="prev"' not in pages[0]
    assert "sort=name" in re.search(r'href="([^"]+)"[^>]*rel="prev"', pages[2]).group(1)

    prev = re.search(r'<a class="button" href="([^"]+)"[^>]*rel="prev"', pages[2]).group(1)
    back = admin_client.get(LIST + prev.replace("&amp;", "&")).content.decode()
    assert re.findall(r'<tr id="key-row-([0-9a-f-]+)"', back) == expected[25:50]


def test_a_bad_cursor_shows_the_first_page(admin_client, org):
    _bulk_keys(org, 30)

    response = admin_client.get(LIST, {"after": "not-a-cursor!"})

    assert response.status_code == 200
    assert len(_names(response)) == 25


# htmx


def test_htmx_request_for_the_table_renders_only_the_table(admin_client, org):
    make_key(org, name="billing-prod")

    response = admin_client.get(
        LIST, {"q": "billing"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="keys-table"
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert "<body" not in html
    assert html.lstrip().startswith('<div id="keys-table">')
    assert "billing-prod" in html
    assert 'class="filters"' not in html


def test_htmx_request_for_another_target_renders_the_whole_page(admin_client, org):
    response = admin_client.get(LIST, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="main")

    assert "<html" in response.content.decode()


def test_full_page_includes_the_table(admin_client, org):
    make_key(org, name="billing-prod")

    html = admin_client.get(LIST).content.decode()

    assert "<html" in html
    assert '<div id="keys-table">' in html
    assert "billing-prod" in html


# Query counts


@pytest.mark.parametrize("count", [5, 60])
def test_keys_page_query_count_does_not_grow_with_rows(
    admin_client, org, team, django_assert_max_num_queries, count
):
    for key in _bulk_keys(org, count):
        key.team = team
    Key.objects.filter(org=org).update(team=team)

    with django_assert_max_num_queries(LIST_QUERIES):
        response = admin_client.get(LIST)

    assert len(_names(response)) == min(count, 25)


@pytest.mark.parametrize("count", [5, 60])
def test_members_keys_page_query_count_does_not_grow_with_rows(
    member_client, org, team, django_assert_max_num_queries, count
):
    _bulk_keys(org, count, team=team)

    with django_assert_max_num_queries(LIST_QUERIES):
        response = member_client.get(LIST, {"sort": "-last_used", "status": "active"})

    assert len(_names(response)) == min(count, 25)


@pytest.mark.parametrize("changes", [0, 30])
def test_key_detail_query_count_is_bounded(
    admin_client, org, team, django_assert_max_num_queries, changes
):
    user = admin_client.membership.user
    actor = Actor(type="user", id=str(user.pk), label=user.email, role="admin", user=user)
    key, _ = make_key(org, actor=actor, name="busy", team=team)
    for i in range(changes):
        services.update_key(
            key=key, actor=actor, settings_=KeySettings(name=f"busy-{i}", team=team)
        )

    with django_assert_max_num_queries(DETAIL_QUERIES):
        response = admin_client.get(reverse("keys:detail", args=[key.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "admin@example.com" in html  # created by, from the same query as the key
    assert html.count('<code class="action">key.updated</code>') == changes


# Who sees what


def test_member_sees_only_keys_of_their_teams(member_client, org, team, other_team):
    make_key(org, name="my-team-key", team=team)
    make_key(org, name="other-team-key", team=other_team)
    make_key(org, name="teamless-key")

    response = member_client.get(LIST)

    assert response.status_code == 200
    assert _names(response) == ["my-team-key"]
    html = response.content.decode()
    assert "Platform" not in html  # the other team is not offered as a filter either
    assert reverse("keys:new") not in html
    assert 'id="batch-form"' in html
    assert 'name="keys"' not in html


def test_member_filtering_by_another_team_sees_nothing(member_client, org, other_team):
    make_key(org, name="other-team-key", team=other_team)

    assert _names(member_client.get(LIST, {"team": str(other_team.pk)})) == []


def test_member_sees_their_teams_key(member_client, key):
    response = member_client.get(reverse("keys:detail", args=[key.pk]))

    assert response.status_code == 200
    assert key.preview in response.content.decode()


def test_member_gets_404_for_other_teams_key(member_client, org, other_team):
    other, _ = make_key(org, name="other-team-key", team=other_team)
    teamless, _ = make_key(org, name="teamless-key")

    assert member_client.get(reverse("keys:detail", args=[other.pk])).status_code == 404
    assert member_client.get(reverse("keys:detail", args=[teamless.pk])).status_code == 404


def test_auditor_sees_every_key_but_no_actions(auditor_client, org, team, other_team):
    make_key(org, name="a", team=team)
    make_key(org, name="b", team=other_team)
    make_key(org, name="c")

    response = auditor_client.get(LIST)

    assert sorted(_names(response)) == ["a", "b", "c"]
    html = response.content.decode()
    assert reverse("keys:new") not in html
    assert 'name="keys"' not in html
    assert 'role="switch"' not in html


def test_admin_sees_every_key_with_actions(admin_client, org, team, other_team):
    make_key(org, name="a", team=team)
    make_key(org, name="c")

    response = admin_client.get(LIST)

    assert sorted(_names(response)) == ["a", "c"]
    html = response.content.decode()
    assert reverse("keys:new") in html
    assert html.count('name="keys"') == 2


def test_other_orgs_keys_are_not_listed(other_org_admin_client, org, key):
    response = other_org_admin_client.get(LIST, {"q": key.preview})

    assert _names(response) == []
    assert key.name not in response.content.decode()


def test_other_orgs_key_detail_is_404(other_org_admin_client, key):
    assert other_org_admin_client.get(reverse("keys:detail", args=[key.pk])).status_code == 404


def test_unknown_key_detail_is_404(admin_client, org):
    assert admin_client.get(reverse("keys:detail", args=[uuid.uuid4()])).status_code == 404


def test_anonymous_is_redirected_to_sign_in(client):
    response = client.get(LIST)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("sign-in"))


# The detail page


def test_detail_shows_the_key_and_its_audit_trail(admin_client, org, key):
    services.disable_key(key=key, actor=Actor.system("tests"))

    html = admin_client.get(reverse("keys:detail", args=[key.pk])).content.decode()

    assert key.name in html
    assert key.preview in html
    assert "key.created" in html
    assert "key.disabled" in html
    assert "legacy" in html


def test_detail_of_a_deleted_key_is_still_shown(admin_client, key):
    services.delete_key(key=key, actor=Actor.system("tests"))

    response = admin_client.get(reverse("keys:detail", args=[key.pk]))

    assert response.status_code == 200
    assert "Deleted" in response.content.decode()


def test_detail_shows_the_grace_period(admin_client, key):
    services.rotate_key(key=key, actor=Actor.system("tests"), grace_hours=3)

    html = admin_client.get(reverse("keys:detail", args=[key.pk])).content.decode()

    assert "The secret before the last rotation keeps working until" in html
    assert Key.objects.get(pk=key.pk).status == KeyStatus.ACTIVE


@pytest.mark.parametrize("sort", ["-created", "created", "name", "-name"])
def test_not_null_sorts_order_without_nulls_placement_so_the_index_serves_them(
    admin_membership, sort
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        selectors.keys_visible_to(admin_membership, sort=sort)
    assert "NULLS" not in captured.captured_queries[-1]["sql"].upper()


def test_the_last_used_sort_keeps_never_used_keys_last(admin_membership):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        selectors.keys_visible_to(admin_membership, sort="-last_used")
    sql = captured.captured_queries[-1]["sql"].upper()
    assert "NULLS LAST" in sql or "IS NULL" in sql  # SQLite spells the placement differently
