"""The one keyset pager (gateway_console.paging): every order walks each row once, forward
and back, NULLs where the order puts them, ties broken by the id; a cursor it did not give out
decodes to None; links keep the list's other parameters."""

import functools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from gateway_console.paging import (
    NEWEST_FIRST,
    Column,
    cursors,
    decode,
    encode,
    keyset_page,
    pager_links,
)
from keys.models import Key
from tests.factories import make_key

AT = datetime(2026, 11, 1, tzinfo=UTC)
ID = Column("id", kind=uuid.UUID)
ID_DESC = Column("id", descending=True, kind=uuid.UUID)
LAST_USED = {"field": "last_used_at", "nullable": True, "kind": datetime}

ORDERS = {
    "name, id": [Column("name"), ID],
    "name desc, id desc": [Column("name", descending=True), ID_DESC],
    "last used, NULLs last": [Column(**LAST_USED), ID],
    "last used desc, NULLs last": [Column(**LAST_USED, descending=True), ID_DESC],
    "last used, NULLs first": [Column(**LAST_USED, nulls_first=True), ID],
    "last used desc, NULLs first, then name asc": [
        Column(**LAST_USED, descending=True, nulls_first=True),
        Column("name"),
        ID,
    ],
    "name asc, last used desc": [Column("name"), Column(**LAST_USED, descending=True), ID_DESC],
}


@pytest.fixture
def keys(org):
    """23 keys: names and use times with ties, seven never used."""
    made = []
    for n in range(23):
        key, _ = make_key(org, name=f"k{n % 5}")
        used = None if n % 3 == 0 else AT + timedelta(hours=n % 4)
        Key.objects.filter(pk=key.pk).update(last_used_at=used)
        made.append(key.pk)
    return Key.objects.filter(pk__in=made)


def _compare_one(column: Column, a, b) -> int:
    if a == b:
        return 0
    if a is None or b is None:
        a_first = (a is None) == column.nulls_first
        return -1 if a_first else 1
    result = -1 if a < b else 1
    return -result if column.descending else result


def _expected(queryset, columns) -> list:
    rows = list(queryset)

    def compare(x, y):
        for column in columns:
            result = _compare_one(column, getattr(x, column.field), getattr(y, column.field))
            if result:
                return result
        return 0

    return [row.pk for row in sorted(rows, key=functools.cmp_to_key(compare))]


@pytest.mark.smoke
@pytest.mark.parametrize("order", ORDERS)
def test_every_order_walks_each_row_once_forward_and_back(keys, order):
    columns = ORDERS[order]
    forward = [keyset_page(keys, columns, size=4)]
    while forward[-1].next_cursor:
        forward.append(keyset_page(keys, columns, after=forward[-1].next_cursor, size=4))
    walked = [row.pk for page in forward for row in page.rows]
    assert walked == _expected(keys, columns)
    assert [len(page.rows) for page in forward] == [4, 4, 4, 4, 4, 3]
    assert forward[0].prev_cursor is None

    back = [forward[-1]]
    while back[-1].prev_cursor:
        back.append(keyset_page(keys, columns, before=back[-1].prev_cursor, size=4))
    assert [[r.pk for r in p.rows] for p in reversed(back)] == [
        [r.pk for r in p.rows] for p in forward
    ]


def test_a_single_column_cursor_is_the_value_itself(org):
    key, _ = make_key(org, name="billing")
    assert encode(key, [Column("name")]) == "billing"
    assert decode("billing", [Column("name")]) == ["billing"]
    assert decode("71", [Column("seq", kind=int)]) == [71]


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        "bm90LWEtY3Vyc29y",
        "WzEsIDJd",
        "WyJ4IiwgIm5vdC1hLXV1aWQiXQ",
        "W251bGwsIG51bGxd",
    ],
)
def test_a_cursor_it_did_not_give_out_decodes_to_none_and_pages_from_the_start(keys, cursor):
    columns = ORDERS["name, id"]
    assert decode(cursor, columns) is None
    assert keyset_page(keys, columns, after=cursor, size=4).rows == (
        keyset_page(keys, columns, size=4).rows
    )


@pytest.mark.parametrize("cursor", ["-1", "1.5", "١٢", "", " 7"])
def test_a_whole_number_cursor_is_ascii_digits_only(cursor):
    assert decode(cursor, [Column("seq", kind=int)]) is None


def test_links_keep_the_other_parameters_and_name_pages_by_style(keys):
    columns = ORDERS["name, id"]
    page = keyset_page(keys, columns, after=keyset_page(keys, columns, size=4).next_cursor, size=4)

    sorted_links = pager_links(page, query={"q": "k1", "team": "", "sort": "name"})
    assert sorted_links.next == f"?q=k1&sort=name&after={page.next_cursor}"
    assert sorted_links.prev == f"?q=k1&sort=name&before={page.prev_cursor}"

    newest = pager_links(page, style=NEWEST_FIRST, target="t")
    assert (newest.next, newest.prev) == (
        f"?before={page.next_cursor}",
        f"?after={page.prev_cursor}",
    )
    assert (newest.next_label, newest.prev_label, newest.target) == ("Older →", "← Newer", "t")
    assert cursors({"before": "a", "after": "b"}, NEWEST_FIRST) == {"after": "a", "before": "b"}


def test_a_list_of_one_page_shows_no_pager(admin_client, org):
    for n in range(25):
        make_key(org, name=f"app-{n:02d}")

    html = admin_client.get("/keys/").content.decode()

    assert "app-00" in html and "app-24" in html
    assert 'class="pager"' not in html


def test_a_list_longer_than_a_page_shows_the_pager(admin_client, org):
    for n in range(26):
        make_key(org, name=f"app-{n:02d}")

    html = admin_client.get("/keys/").content.decode()

    assert 'class="pager"' in html
    assert "?after=" in html
