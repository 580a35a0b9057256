"""What a usage event is, and how a batch of them is checked before anything is written: each
event on its own (parse_event), then against the keys and prices it names (accept)."""

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils.dateparse import parse_datetime

from billing.ledger.models import ModelPrice
from billing.pricing import cost_micros

MAX_BATCH = 1000
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_MAX_TOKENS = 10**10
_FUTURE_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class KeyFacts:
    """What recording an event needs to know of its key."""

    org_id: uuid.UUID
    team_id: uuid.UUID | None
    limit_period: str
    org_timezone: str
    multiplier: Decimal  # the org's plan's (1 without a plan)
    team_limit_period: str | None


class InvalidEvent(Exception):
    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass
class Event:
    request_id: str
    key_id: uuid.UUID
    model: str
    input_tokens: int
    output_tokens: int
    status_code: int
    latency_ms: int | None
    occurred_at: datetime
    # Filled in from the key and the price list.
    org_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    cost_micros: int = 0


@dataclass
class Outcome:
    index: int
    request_id: str | None
    status: str  # "recorded", "duplicate" or "rejected"
    cost: Decimal | None = None
    field: str | None = None
    message: str | None = None

    def as_dict(self) -> dict:
        result = {"index": self.index, "request_id": self.request_id, "status": self.status}
        if self.cost is not None:
            result["cost"] = f"{self.cost:f}"
        if self.status == "rejected":
            result["error"] = {
                "code": "invalid_usage_event",
                "field": self.field,
                "message": self.message,
            }
        return result


@dataclass
class BatchResult:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def _int(data: dict, name: str, *, minimum: int, maximum: int, required: bool = True) -> int | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent(name, f"{name} must be a whole number.")
    if not minimum <= value <= maximum:
        raise InvalidEvent(name, f"{name} must be between {minimum} and {maximum}.")
    return value


def parse_event(data, *, now: datetime) -> Event:
    if not isinstance(data, dict):
        raise InvalidEvent("event", "Each event must be a JSON object.")
    request_id = data.get("request_id")
    if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
        raise InvalidEvent("request_id", "request_id must be 1 to 100 letters, digits or . _ : -")
    try:
        key_id = uuid.UUID(str(data.get("key_id")))
    except ValueError:
        raise InvalidEvent(
            "key_id", "key_id must be the key's id (a UUID), as authorize returned it."
        ) from None
    model = data.get("model")
    # No NUL: PostgreSQL's text cannot hold one (and no priced model has one).
    if not isinstance(model, str) or not model or len(model) > 100 or "\x00" in model:
        raise InvalidEvent("model", "model must be the model's name.")
    occurred_raw = data.get("occurred_at")
    occurred_at = parse_datetime(occurred_raw) if isinstance(occurred_raw, str) else None
    if occurred_at is None or occurred_at.tzinfo is None:
        raise InvalidEvent(
            "occurred_at",
            "occurred_at must be an ISO 8601 time with a time zone, e.g. 2026-11-22T10:00:00Z.",
        )
    if occurred_at > now + _FUTURE_SLACK:
        raise InvalidEvent("occurred_at", "occurred_at is in the future.")
    try:
        occurred_at = occurred_at.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00:00+01:00 has no UTC time: Python's datetimes end at year 1.
        raise InvalidEvent("occurred_at", "occurred_at is out of range.") from None
    return Event(
        request_id=request_id,
        key_id=key_id,
        model=model,
        input_tokens=_int(data, "input_tokens", minimum=0, maximum=_MAX_TOKENS),
        output_tokens=_int(data, "output_tokens", minimum=0, maximum=_MAX_TOKENS),
        status_code=_int(data, "status_code", minimum=100, maximum=599),
        latency_ms=_int(data, "latency_ms", minimum=0, maximum=86_400_000, required=False),
        occurred_at=occurred_at,
    )


def parse_all(raw_events: list, now: datetime, result: BatchResult) -> list[tuple[int, Event]]:
    """The events that are well formed, with their places in the batch; each other one is
    rejected in `result`, naming the field at fault."""
    parsed: list[tuple[int, Event]] = []
    for index, data in enumerate(raw_events):
        try:
            parsed.append((index, parse_event(data, now=now)))
        except InvalidEvent as invalid:
            request_id = (
                data.get("request_id")
                if isinstance(data, dict) and isinstance(data.get("request_id"), str)
                else None
            )
            result.outcomes.append(
                Outcome(index, request_id, "rejected", field=invalid.field, message=invalid.message)
            )
    return parsed


def accept(
    parsed: list[tuple[int, Event]],
    keys: dict[uuid.UUID, KeyFacts],
    prices: dict[str, ModelPrice],
    result: BatchResult,
) -> list[tuple[int, Event]]:
    """The events of known keys and priced models, each given its org, team and cost. An event
    of an unknown key or model is rejected in `result`; a request id repeated within the batch
    is a duplicate."""
    accepted: list[tuple[int, Event]] = []
    seen: set[tuple] = set()
    for index, event in parsed:
        key = keys.get(event.key_id)
        price = prices.get(event.model)
        if key is None:
            result.outcomes.append(_rejected(index, event, "key_id", "No key has this id."))
            continue
        if price is None:
            message = f"The model '{event.model}' has no price; nothing was recorded."
            result.outcomes.append(_rejected(index, event, "model", message))
            continue
        event.org_id, event.team_id = key.org_id, key.team_id
        if (event.org_id, event.request_id) in seen:
            result.outcomes.append(Outcome(index, event.request_id, "duplicate"))
            continue
        seen.add((event.org_id, event.request_id))
        event.cost_micros = cost_micros(
            input_tokens=event.input_tokens,
            output_tokens=event.output_tokens,
            input_per_million=price.input_per_million,
            output_per_million=price.output_per_million,
            multiplier=key.multiplier,
        )
        accepted.append((index, event))
    return accepted


def _rejected(index: int, event: Event, field_name: str, message: str) -> Outcome:
    return Outcome(index, event.request_id, "rejected", field=field_name, message=message)
