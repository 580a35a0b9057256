"""The one rule for CSV cells (gateway_console.csv_cells): text that a spreadsheet would run as
a formula gets a single quote in front (OWASP); numbers the code writes stay numbers."""

import csv
import io
from decimal import Decimal

import pytest

from gateway_console.csv_cells import neutralised, neutralised_row

FORMULAS = [
    '=HYPERLINK("http://evil")',
    "+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C calc'!A0",
]


@pytest.mark.parametrize("text", FORMULAS)
def test_text_that_starts_a_formula_gets_a_quote_in_front(text):
    assert neutralised(text) == "'" + text


def test_text_that_starts_with_the_quote_gets_another_so_the_rule_can_be_undone():
    assert neutralised("'=1") == "''=1"
    assert neutralised("'tis") == "''tis"


@pytest.mark.parametrize(
    "text",
    [
        "billing-prod",
        "alice@example.com",
        "Mozilla/5.0 (X11; Linux x86_64)",
        "a=b",
        " =1",
        "",
        "2026-03-10T00:00:00+00:00",
        "1.50",
    ],
)
def test_ordinary_text_is_unchanged(text):
    assert neutralised(text) == text


def test_numbers_stay_numbers_a_negative_amount_included():
    assert neutralised(-3) == -3
    assert neutralised(Decimal("-1.50")) == "-1.50"
    assert neutralised(Decimal("0.000003")) == "0.000003"
    assert neutralised(Decimal("1E-7")) == "0.0000001"
    assert neutralised(None) is None


def test_a_written_row_reads_back_as_the_quoted_text():
    buffer = io.StringIO()
    csv.writer(buffer).writerow(neutralised_row([*FORMULAS, 7, Decimal("-1.50"), "plain"]))

    [row] = csv.reader(io.StringIO(buffer.getvalue(), newline=""))

    assert row == [*("'" + text for text in FORMULAS), "7", "-1.50", "plain"]
