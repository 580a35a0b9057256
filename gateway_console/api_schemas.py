"""What the admin API's routers share in their OpenAPI document: the body of ContractError
(docs/contract.md sections 2 and 4), the statuses an operation documents, and times. The mapping of
exceptions to that body is in gateway_console/api.py; the routers import only this module."""

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Annotated

from ninja import Schema
from pydantic import AfterValidator, AwareDatetime, Field

from gateway_console.contract import ContractError


class ErrorDetail(Schema):
    """The one error body of the admin API and the gateway's endpoints (docs/contract.md)."""

    type: str = Field(description="The OpenAI-style error type, e.g. `invalid_request_error`.")
    code: str = Field(description="What went wrong, for programs, e.g. `invalid_admin_token`.")
    message: str = Field(description="What went wrong, for people: a sentence one can act on.")
    param: str | None = Field(
        default=None, description="The field or parameter at fault, for validation errors."
    )
    reset_at: datetime | None = Field(
        default=None, description="Quotas and rate limits: when waiting will help."
    )
    field: str | None = Field(default=None, description="Usage: the event's field at fault.")


class ErrorOut(Schema):
    error: ErrorDetail


# Every operation: over 1,000 query parameters (400 `too_many_parameters`); no, unknown,
# revoked or expired token (401); a request that does not validate (422).
READ = (400, 401, 422)
# Every change: also a read-only token (403), a body that is not JSON (400) and a body over
# 2.5 MB (413 `request_too_large`).
WRITE = (400, 401, 403, 413, 422)


def errors(*statuses: int) -> dict[int, type[ErrorOut]]:
    """`response={200: KeyOut, **errors(*READ, 404)}`"""
    return dict.fromkeys(sorted(set(statuses)), ErrorOut)


def _in_utc(value: datetime) -> datetime:
    # Python accepts offsets up to ±23:59, PostgreSQL only up to ±15:59: times go to the
    # database in UTC. ValueError, so that a time out of range is a 422, not a 500.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("this time is out of range") from None


# A time with its UTC offset (required), converted to UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]


def form_refused(form, *, nested: Collection[str] = (), under: str = "limits") -> ContractError:
    """The admin API's 422 for a form that refused its input: the first field at fault as
    `param` (`limits.spend_cap` for a field the JSON nests under `limits`), its first message."""
    field, messages = next(iter(form.errors.items()))
    param = None if field == "__all__" else field
    if param in nested:
        param = f"{under}.{param}"
    return ContractError(
        "invalid_request",
        422,
        f"{param}: {messages[0]}" if param else messages[0],
        extra={"param": param},
    )
