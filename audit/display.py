"""How the audit pages show a recorded value of a field, as the apps above the log say
(register_formatter, in their ready()): amounts as money, say. A field nobody registered is
shown as it was recorded."""

from collections.abc import Callable

_FORMATTERS: dict[str, Callable[[str], str]] = {}


def register_formatter(fields: set[str], shown: Callable[[str], str]) -> None:
    for field in fields:
        _FORMATTERS[field] = shown


def formatter_of(field: str) -> Callable[[str], str] | None:
    return _FORMATTERS.get(field)
