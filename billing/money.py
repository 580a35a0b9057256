"""Money is Decimal, quantized in one place; never float."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import forms

# Amounts are kept to the micro-unit (a millionth of the currency unit): enough for the price
# of a single token.
MICRO = Decimal("0.000001")
CENT = Decimal("0.01")
MAX_DIGITS = 18
DECIMAL_PLACES = 6
CURRENCY = "USD"
# The largest cap or limit a form takes.
MAX_CAP = Decimal("1000000000")


def to_money(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float):
        raise TypeError("money is never a float; pass a Decimal, an int or a string")
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not an amount of money") from exc
    return amount.quantize(MICRO, rounding=ROUND_HALF_UP)


def money_text(value: Decimal | int | str | None) -> str | None:
    """An amount as the contract writes money: a string of six decimals (`"12.500000"`), or
    None for none."""
    return None if value is None else str(to_money(value))


def micros_to_money(micros: int) -> Decimal:
    """Integer micro-units (what counters and the ledger hold) as money."""
    return (Decimal(micros) / Decimal(1_000_000)).quantize(MICRO)


def money_to_micros(amount: Decimal) -> int:
    return int((amount * 1_000_000).to_integral_value(rounding=ROUND_HALF_UP))


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


class MoneyField(forms.DecimalField):
    """An amount in USD, to the micro-unit. By default a cap or limit: a cent to a billion; pass
    min_value=None and max_value=None for any amount (an adjustment may be negative)."""

    def __init__(self, *, min_value=CENT, max_value=MAX_CAP, **kwargs):
        super().__init__(
            min_value=min_value,
            max_value=max_value,
            max_digits=MAX_DIGITS,
            decimal_places=DECIMAL_PLACES,
            **kwargs,
        )
