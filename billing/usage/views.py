"""The usage pages: a key's, a team's and the org's usage over time, by model, from the hourly
rollups (billing.usage.rollups), with charts, the same numbers as tables, a CSV download of the same
query, and the request log's lookup by request id."""

import csv
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from billing.money import display, micros_to_money
from billing.usage import rollups, selectors
from gateway_console import selectors as tenancy
from gateway_console.csv_cells import neutralised_row
from gateway_console.roles import membership_required, role_required

RANGES = {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days", "custom": "Custom"}
GRANULARITIES = {"hour": "Hourly", "day": "Daily"}
DEFAULT_GRANULARITY = {"24h": "hour", "7d": "day", "30d": "day", "custom": "day"}
MAX_CUSTOM_DAYS = 366
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class UsageRange:
    name: str
    granularity: str
    since: datetime
    until: datetime
    from_date: date
    to_date: date
    error: str = ""


def _local_midnight(day: date, zone: zoneinfo.ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def _parse_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _custom_range(params, granularity: str, zone: zoneinfo.ZoneInfo) -> UsageRange | str:
    """The custom range of `from` and `to`, or what is wrong with them."""
    start, end = _parse_date(params.get("from", "")), _parse_date(params.get("to", ""))
    if start is None or end is None:
        return "Choose both dates of the custom range, as YYYY-MM-DD."
    if end < start:
        return "The range's end is before its start."
    if (end - start).days >= MAX_CUSTOM_DAYS:
        return f"A custom range is at most {MAX_CUSTOM_DAYS} days."
    try:
        since = _local_midnight(start, zone)
        until = _local_midnight(end + timedelta(days=1), zone)
        # The database compares in UTC, where a day at the very edge of the calendar
        # (9999-12-31, or 0001-01-01 east of Greenwich) has no midnight.
        _ = (since.astimezone(UTC), until.astimezone(UTC))
    except OverflowError:
        return "Choose days after 0001-01-01 and before 9999-12-31."
    return UsageRange("custom", granularity, since, until, start, end)


def usage_range(params, tz: str, now: datetime | None = None) -> UsageRange:
    """The range a usage page shows, from its query string: 24 h (whole UTC hours, the current
    one included), 7 or 30 days (whole days of the org's zone, today included), or custom
    `from`/`to` dates of the org's zone, both included."""
    zone = zoneinfo.ZoneInfo(tz)
    now = now or timezone.now()
    end_hour = rollups.floor_hour(now) + HOUR
    today = now.astimezone(zone).date()
    name = params.get("range", "7d")
    name = name if name in RANGES else "7d"
    granularity = params.get("granularity", "")
    granularity = granularity if granularity in GRANULARITIES else DEFAULT_GRANULARITY[name]
    error = ""
    if name == "custom":
        custom = _custom_range(params, granularity, zone)
        if isinstance(custom, UsageRange):
            return custom
        name, error = "7d", custom  # Show the default range beside the error.
    if name == "24h":
        since = end_hour - timedelta(hours=24)
        return UsageRange(
            name, granularity, since, end_hour, since.astimezone(zone).date(), today, error
        )
    days = 7 if name == "7d" else 30
    first = today - timedelta(days=days - 1)
    return UsageRange(
        name, granularity, _local_midnight(first, zone), end_hour, first, today, error
    )


def _bucket_starts(span: UsageRange, tz: str) -> list[datetime]:
    """Every bucket of the range, empty ones included (the chart's x axis)."""
    zone = zoneinfo.ZoneInfo(tz)
    starts = []
    if span.granularity == "hour":
        moment = rollups.floor_hour(span.since)
        while moment < span.until:
            starts.append(moment.astimezone(zone))
            moment += HOUR
    else:
        day = span.since.astimezone(zone).date()
        while _local_midnight(day, zone) < span.until:
            starts.append(_local_midnight(day, zone))
            day += timedelta(days=1)
    return starts


@dataclass(frozen=True)
class Totals:
    label: str
    requests: int
    input_tokens: int
    output_tokens: int
    cost_micros: int
    errors: int

    @property
    def cost(self) -> str:
        return display(micros_to_money(self.cost_micros))


def _sum(label: str, buckets) -> Totals:
    return Totals(
        label,
        sum(b.requests for b in buckets),
        sum(b.input_tokens for b in buckets),
        sum(b.output_tokens for b in buckets),
        sum(b.cost_micros for b in buckets),
        sum(b.errors for b in buckets),
    )


def _bucket_label(start: datetime, granularity: str) -> str:
    return f"{start:%Y-%m-%d %H:00}" if granularity == "hour" else f"{start:%Y-%m-%d}"


def usage_report(scope: Q, span: UsageRange, tz: str) -> dict:
    """What a usage page shows, from one query of the rollups: totals, a row per bucket, a row
    per model and the charts' series."""
    buckets = rollups.usage_buckets(
        scope,
        since=span.since,
        until=span.until,
        granularity=span.granularity,
        tz=tz,
        by_model=True,
    )
    models = sorted({b.model for b in buckets})
    per_start: dict[datetime, list] = {}
    for b in buckets:
        per_start.setdefault(b.start, []).append(b)
    starts = _bucket_starts(span, tz)
    index = {start: i for i, start in enumerate(starts)}
    empty = [0] * len(starts)
    chart = {
        "x": [int(start.timestamp()) for start in starts],
        "tz": tz,
        "granularity": span.granularity,
        "models": models,
        "requests": {m: list(empty) for m in models},
        "cost_micros": {m: list(empty) for m in models},
        "input_tokens": list(empty),
        "output_tokens": list(empty),
    }
    for b in buckets:
        i = index.get(b.start)
        if i is None:  # An hour of a half-hour zone counted in the day before the range.
            continue
        chart["requests"][b.model][i] += b.requests
        chart["cost_micros"][b.model][i] += b.cost_micros
        chart["input_tokens"][i] += b.input_tokens
        chart["output_tokens"][i] += b.output_tokens
    return {
        "buckets": buckets,
        "total": _sum("Total", buckets),
        "rows": [
            _sum(_bucket_label(start, span.granularity), per_start[start])
            for start in sorted(per_start)
        ],
        "by_model": sorted(
            (_sum(m, [b for b in buckets if b.model == m]) for m in models),
            key=lambda t: (-t.cost_micros, t.label),
        ),
        "chart": chart,
    }


def _csv(report: dict, span: UsageRange, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(
        ["start", "model", "requests", "input_tokens", "output_tokens", "cost_usd", "errors"]
    )
    for b in report["buckets"]:
        # The model's name is text from the price list; the numbers stay numbers.
        writer.writerow(
            neutralised_row(
                [
                    b.start.isoformat(),
                    b.model,
                    b.requests,
                    b.input_tokens,
                    b.output_tokens,
                    micros_to_money(b.cost_micros),
                    b.errors,
                ]
            )
        )
    return response


def _top_keys(scope: Q, span: UsageRange) -> dict:
    def rows(by: str):
        return [
            {**row, "cost": display(micros_to_money(row["cost_micros"]))}
            for row in rollups.top_keys(scope, since=span.since, until=span.until, by=by)
        ]

    return {"top_by_cost": rows("cost_micros"), "top_by_requests": rows("requests")}


def usage_page(
    request: HttpRequest,
    *,
    scope: Q,
    tz: str,
    title: str,
    filename: str,
    template: str = "usage/page.html",
    top_keys: bool = True,
    **context,
) -> HttpResponse:
    """One usage page (or, with ?format=csv, its CSV): the same query either way."""
    span = usage_range(request.GET, tz)
    report = usage_report(scope, span, tz)
    if request.GET.get("format") == "csv":
        return _csv(report, span, f"{filename}-{span.from_date}-{span.to_date}.csv")
    query = request.GET.copy()
    query["format"] = "csv"
    return render(
        request,
        template,
        {
            **context,
            **report,
            **(_top_keys(scope, span) if top_keys else {}),
            "title": title,
            "span": span,
            "tz": tz,
            "ranges": RANGES,
            "granularities": GRANULARITIES,
            "granularity_label": GRANULARITIES[span.granularity],
            "csv_query": query.urlencode(),
        },
    )


@role_required("reader")
def org_usage(request: HttpRequest) -> HttpResponse:
    org = request.membership.org
    return usage_page(
        request,
        scope=Q(org=org),
        tz=org.timezone,
        title=f"Usage of {org.name}",
        filename=f"usage-{org.slug}",
        scope_name="org",
    )


@membership_required
def team_usage(request: HttpRequest, team_id) -> HttpResponse:
    team = tenancy.team_for(request.membership, team_id)
    org = request.membership.org
    return usage_page(
        request,
        scope=Q(team=team),
        tz=org.timezone,
        title=f"Usage of {team.name}",
        filename=f"usage-team-{team.pk}",
        scope_name="team",
        team=team,
    )


@membership_required
def request_lookup(request: HttpRequest) -> HttpResponse:
    """The request log: one request by the gateway's request id, also of a deleted key; a 404
    for a request of another org or of a key this membership may not see."""
    request_id = request.GET.get("request_id", "").strip()[:100]
    if not request_id:
        return render(request, "usage/request.html", {"event": None, "request_id": ""})
    try:
        event = selectors.usage_event_for(request.membership, request_id)
    except Http404:
        return render(
            request,
            "usage/request.html",
            {
                "event": None,
                "request_id": request_id,
                "not_found": True,
                "retention_days": settings.USAGE_RETENTION_DAYS,
            },
            status=404,
        )
    return render(
        request,
        "usage/request.html",
        {
            "event": event,
            "request_id": request_id,
            "cost": display(micros_to_money(event.cost_micros)),
        },
    )


def usage_summary(scope: Q, tz: str) -> Totals:
    """The totals of the last 7 days (the usage page's default range), for a detail page."""
    span = usage_range({}, tz)
    buckets = rollups.usage_buckets(
        scope, since=span.since, until=span.until, granularity="day", tz=tz
    )
    return _sum("Last 7 days", buckets)
