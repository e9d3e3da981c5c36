"""Cells of the CSV files the workbench writes, safe to open in a spreadsheet ("CSV injection", OWASP): text that
a spreadsheet would run as a formula is written with a leading apostrophe; numbers, negative ones too, stay numbers."""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def csv_cell(value: object) -> object:
    """`value` for a CSV cell: text starting with = + - @, a tab or a carriage return (and not a plain number such
    as -0.01) gets a leading apostrophe, so that a spreadsheet shows it as text; anything else is unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(value):
        return f"'{value}"
    return value
