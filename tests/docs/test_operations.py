"""docs/operations.md stays true to the code: its settings table is the ``Settings`` class, row for row
with the same defaults, and its metrics are the ones a live server serves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from domain.settings import Settings
from tests import factories as f
from tests.conftest import TestDatabase
from tests.waiting import PATIENCE

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
PREFIX = "INCIDENTDESK_"

# A row of the settings table: | `INCIDENTDESK_NAME` | default | meaning |
_ROW = re.compile(r"^\|\s*`INCIDENTDESK_([A-Z0-9_]+)`\s*\|([^|]*)\|", re.MULTILINE)
_LITERAL = re.compile(r"`([^`]*)`")
_METRIC = re.compile(r"\bincidentdesk_[a-z_]+")


def _text() -> str:
    return OPERATIONS.read_text(encoding="utf-8")


def rendered_default(value: Any) -> str | None:
    """How the table writes a default; None when the cell explains it in words (unset, derived, empty)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _expected_row(name: str, value: Any) -> str:
    shown = rendered_default(value)
    return f"| `{PREFIX}{name.upper()}` | {f'`{shown}`' if shown is not None else 'unset'} | ... |"


def test_the_settings_table_names_every_setting_and_no_other() -> None:
    rows = {name.lower(): cell for name, cell in _ROW.findall(_text())}
    fields = Settings.model_fields
    missing = [name for name in fields if name not in rows]
    assert not missing, "add these rows to docs/operations.md's settings table:\n" + "\n".join(
        _expected_row(name, fields[name].default) for name in missing
    )
    unknown = sorted(set(rows) - set(fields))
    assert not unknown, f"docs/operations.md lists settings that domain/settings.py does not have: {unknown}"


def test_the_settings_table_gives_each_default() -> None:
    rows = {name.lower(): cell for name, cell in _ROW.findall(_text())}
    wrong = []
    for name, field in Settings.model_fields.items():
        shown = rendered_default(field.default)
        if shown is None or name not in rows:
            continue
        literal = _LITERAL.search(rows[name])
        if literal is None or literal.group(1) != shown:
            wrong.append(_expected_row(name, field.default))
    assert not wrong, "fix the default of these rows of docs/operations.md:\n" + "\n".join(wrong)


@pytest.fixture(scope="module")
def scraped(test_db: TestDatabase) -> Iterator[set[str]]:
    """The names a live server's /metrics serves: families (``incidentdesk_http_requests``) and their
    samples (``incidentdesk_http_requests_total``, ``..._bucket``), after a request has been counted."""
    with f.app_server(test_db, f.settings_for(test_db)) as live:
        # Timeouts bound a hang only: a busy machine may be slow to answer.
        assert httpx.get(f"{live.url}/healthz", timeout=PATIENCE).status_code == 200
        body = httpx.get(f"{live.url}/metrics", timeout=PATIENCE).text
    names: set[str] = set()
    for family in text_string_to_metric_families(body):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    yield {name for name in names if name.startswith("incidentdesk_")}


def _runbook() -> str:
    return _text().split("## Metrics and the runbook", 1)[1]


def test_the_runbook_names_only_served_metrics(scraped: set[str]) -> None:
    named = set(_METRIC.findall(_runbook()))
    assert named, "the runbook names the metrics it watches"
    assert not named - scraped, f"not served by /metrics: {sorted(named - scraped)}"


def test_every_served_metric_is_in_the_table(scraped: set[str]) -> None:
    table = set(re.findall(r"^\|\s*`(incidentdesk_[a-z_]+)`", _runbook(), re.MULTILINE))
    # A counter's family is named without _total, a histogram's samples add _bucket, _sum, _count.
    served = {
        name
        for name in scraped
        if not name.endswith(("_bucket", "_sum", "_count", "_created")) and f"{name}_total" not in scraped
    }
    assert not served - table, f"describe these metrics in docs/operations.md: {sorted(served - table)}"
