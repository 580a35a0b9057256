"""What a request costs: model price per million tokens × the plan's multiplier, exact."""

from decimal import ROUND_HALF_UP, Decimal


def cost_micros(
    *,
    input_tokens: int,
    output_tokens: int,
    input_per_million: Decimal,
    output_per_million: Decimal,
    multiplier: Decimal,
) -> int:
    """Cost in micro-units. A price per million tokens in dollars is, per token, exactly that
    many micro-dollars, so no division is needed; the one rounding is to a whole micro-unit."""
    raw = (input_tokens * input_per_million + output_tokens * output_per_million) * multiplier
    return int(raw.to_integral_value(rounding=ROUND_HALF_UP))
