"""One way to page, for every list page and every API list: keyset pages.

A list is a queryset and its order, a few `Column`s whose last one is unique (the id). A page is
the rows after (or before) a cursor in that order, read with `LIMIT size + 1` and a WHERE on the
order's columns: the cost of a page does not grow with its depth, and nothing counts the rows.
There is no OFFSET anywhere.

A cursor names the row a page ends (or starts) at. An order of one column writes it as that
column's value (`team-099`, `71`), so that the API's cursors read plainly; an order of several
writes them as URL-safe base64 of a JSON list. A cursor that does not decode is None: a page
starts over from the first page, the API answers 400 invalid_cursor.

Pages link to each other with `pager_links` and the include `_pager.html`; `render_list` answers
htmx with the list's table alone.
"""

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Generic, TypeVar

from django.db.models import F, Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.dateparse import parse_datetime

T = TypeVar("T")
# Longer than any cursor encode gives out.
MAX_CURSOR = 500


@dataclass(frozen=True)
class Column:
    """One column of a list's order: a field (or an annotation, or a `__` path) and its type."""

    field: str
    descending: bool = False
    # Only for a column that can be NULL: on a NOT NULL column a NULLS placement would stop
    # PostgreSQL reading the matching index in order. NULLs come last unless `nulls_first`.
    nullable: bool = False
    kind: type = str  # str, int, datetime, uuid.UUID or Decimal
    nulls_first: bool = False


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    next_cursor: str | None  # the page after this one; None: this is the last
    prev_cursor: str | None  # the page before; None: this is the first


def keyset_page(
    queryset: QuerySet,
    columns: Sequence[Column],
    *,
    after: str = "",
    before: str = "",
    size: int,
) -> Page:
    """The `size` rows after the cursor `after` (or before `before`) in the columns' order;
    the first page when neither is given or the cursor does not decode."""
    backwards = False
    cursor = None
    if before:
        cursor = decode(before, columns)
        backwards = cursor is not None
    elif after:
        cursor = decode(after, columns)
    walk = _reversed(columns) if backwards else list(columns)
    if cursor is not None:
        queryset = queryset.filter(_beyond(walk, cursor))
    rows = list(queryset.order_by(*ordering(walk))[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
        has_prev, has_next = more, True
    else:
        has_prev, has_next = cursor is not None, more
    return Page(
        rows=rows,
        next_cursor=encode(rows[-1], columns) if rows and has_next else None,
        prev_cursor=encode(rows[0], columns) if rows and has_prev else None,
    )


def ordering(columns: Sequence[Column]) -> list:
    """The ORDER BY of these columns."""
    result = []
    for column in columns:
        field = F(column.field)
        nulls = {}
        if column.nullable:
            nulls = {"nulls_first": True} if column.nulls_first else {"nulls_last": True}
        result.append(field.desc(**nulls) if column.descending else field.asc(**nulls))
    return result


def _reversed(columns: Sequence[Column]) -> list[Column]:
    """The same order read backwards: each column, and its NULLs, the other way."""
    return [
        Column(
            c.field,
            descending=not c.descending,
            nullable=c.nullable,
            kind=c.kind,
            nulls_first=not c.nulls_first,
        )
        for c in columns
    ]


def _beyond(columns: Sequence[Column], values: list) -> Q:
    """Rows strictly after `values` in the order of `columns`: the first column past its value,
    or equal to it and the second past its value, and so on."""
    branches = []
    equal = Q()
    for column, value in zip(columns, values, strict=True):
        past = _past(column, value)
        if past is not None:
            branches.append(equal & past)
        equal &= Q(**{f"{column.field}__isnull": True} if value is None else {column.field: value})
    condition = branches[0]
    for branch in branches[1:]:
        condition |= branch
    return condition


def _past(column: Column, value) -> Q | None:
    """Rows past `value` in this one column; None: none are."""
    if value is None:
        # NULLs last: nothing is past them. NULLs first: every value is.
        if column.nulls_first:
            return Q(**{f"{column.field}__isnull": False})
        return None
    past = Q(**{f"{column.field}__{'lt' if column.descending else 'gt'}": value})
    if column.nullable and not column.nulls_first:
        past |= Q(**{f"{column.field}__isnull": True})
    return past


def _value_of(row, field: str):
    value = row
    for part in field.split("__"):
        value = getattr(value, part)
    return value


def _text(value, kind: type):
    if value is None:
        return None
    if kind is datetime:
        return value.isoformat()
    if kind is int:
        return int(value)
    return str(value)


def encode(row, columns: Sequence[Column]) -> str:
    """The cursor of this row: where a page that ends (or starts) at it continues from."""
    values = [_text(_value_of(row, c.field), c.kind) for c in columns]
    if len(values) == 1:
        return str(values[0])
    raw = json.dumps(values).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse(text, kind: type, nullable: bool):
    if text is None:
        if not nullable:
            raise ValueError("a NULL where none can be")
        return None
    if kind is int:
        text = str(text)
        if not (text.isascii() and text.isdigit()):
            raise ValueError("not a whole number")
        # A number past a 64-bit column is no overflow: Django answers a lookup out of an integer
        # field's range itself (no row is above it), on PostgreSQL and SQLite alike.
        return int(text)
    if not isinstance(text, str):
        raise ValueError("not text")
    if kind is datetime:
        parsed = parse_datetime(text)
        if parsed is None or parsed.tzinfo is None:
            raise ValueError("not a time with its offset")
        # The database compares in UTC: a time with no UTC equivalent (0001-01-01T00:00+14:00)
        # would overflow in Django's conversion (a 500 on SQLite), so it is no cursor.
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValueError("a time out of range") from None
    if kind is uuid.UUID:
        return uuid.UUID(text)
    if kind is Decimal:
        number = Decimal(text)
        if not number.is_finite():
            raise ValueError("not a finite number")
        return number
    return text


def decode(cursor: str, columns: Sequence[Column]) -> list | None:
    """The column values a cursor names; None when it is not one `encode` gave out."""
    try:
        if len(columns) == 1:
            values = [cursor]
        else:
            padded = cursor + "=" * (-len(cursor) % 4)
            values = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(values, list) or len(values) != len(columns):
                return None
        return [_parse(v, c.kind, c.nullable) for v, c in zip(values, columns, strict=True)]
    except (ValueError, TypeError, InvalidOperation, binascii.Error, UnicodeDecodeError):
        return None


# Links between pages --------------------------------------------------------------------------


@dataclass(frozen=True)
class PagerStyle:
    """How a list's pages are named in its URL and on its buttons."""

    next_param: str
    prev_param: str
    next_label: str
    prev_label: str


# A list sorted by the person: ?after= the next page, ?before= the one before.
SORTED = PagerStyle("after", "before", "Next →", "← Previous")
# A list of what happened, newest first: ?before= the older page, ?after= the newer one.
NEWEST_FIRST = PagerStyle("before", "after", "Older →", "← Newer")


@dataclass(frozen=True)
class PagerLinks:
    next: str | None
    prev: str | None
    next_label: str
    prev_label: str
    target: str  # the id of the element htmx swaps; "": plain links


def cursors(params, style: PagerStyle = SORTED) -> dict[str, str]:
    """The `after` and `before` of keyset_page from a page's query parameters, named as
    `style` names them."""
    return {
        "after": params.get(style.next_param, "")[:MAX_CURSOR],
        "before": params.get(style.prev_param, "")[:MAX_CURSOR],
    }


def pager_links(
    page: Page, *, query: dict | None = None, style: PagerStyle = SORTED, target: str = ""
) -> PagerLinks:
    """The links to the pages either side of `page`, keeping the list's other parameters
    (`query`: its filters and sort, without the empty ones)."""

    def link(param: str, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        params = QueryDict(mutable=True)
        for name, value in {**(query or {}), param: cursor}.items():
            if value:
                params[name] = value
        return "?" + params.urlencode()

    return PagerLinks(
        next=link(style.next_param, page.next_cursor),
        prev=link(style.prev_param, page.prev_cursor),
        next_label=style.next_label,
        prev_label=style.prev_label,
        target=target,
    )


def render_list(
    request: HttpRequest, *, template: str, part: str, target: str, context: dict
) -> HttpResponse:
    """The whole page, or only its table (`part`) when htmx asks to swap the element `target`
    (as a filter, a sort or a pager link does)."""
    swap = request.htmx and request.htmx.target == target
    return render(request, part if swap else template, context)
