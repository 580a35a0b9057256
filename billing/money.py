"""Money is Decimal, quantized in one place; never float."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# Amounts are kept to the micro-unit (a millionth of the currency unit): enough for the price
# of a single token.
MICRO = Decimal("0.000001")
CENT = Decimal("0.01")
MAX_DIGITS = 18
DECIMAL_PLACES = 6
CURRENCY = "USD"


def to_money(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float):
        raise TypeError("money is never a float; pass a Decimal, an int or a string")
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not an amount of money") from exc
    return amount.quantize(MICRO, rounding=ROUND_HALF_UP)


def display(amount: Decimal | None) -> str:
    """`$1,234.50`; amounts below a cent keep their significant digits (`$0.000150`)."""
    if amount is None:
        return "—"
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount != 0 and amount < CENT:
        return f"{sign}${amount.normalize():f}"
    return f"{sign}${amount.quantize(CENT, rounding=ROUND_HALF_UP):,}"


def show_recorded_amount(value: str) -> str:
    """An amount as the audit log recorded it (a decimal string), shown as money; anything else
    as it is."""
    try:
        return display(Decimal(value))
    except InvalidOperation:
        return value
