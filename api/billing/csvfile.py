"""RFC 4180 CSV for spreadsheets: CRLF line ends, fields quoted when they must be, and no cell a
spreadsheet would read as a formula.

A cell whose text starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some
spreadsheets skip before looking) is prefixed with a single quote, the convention OWASP recommends: the
text stays readable and no spreadsheet evaluates it. Numbers are written as Python writes them
(``repr``), the same digits the GraphQL API answers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, date, datetime

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MEDIA_TYPE = "text/csv; charset=utf-8; header=present"


def guard(text: str) -> str:
    """``text`` as a spreadsheet shows it without ever evaluating it."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return guard(str(value))


def record(values: Iterable[object]) -> str:
    """One CSV record, CRLF-terminated."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([cell(v) for v in values])
    return buffer.getvalue()
