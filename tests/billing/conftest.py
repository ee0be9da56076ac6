"""Billing tests: one migrated database and one real uvicorn per module. Auto-close and the SLA scanner
are off, so nothing changes behind a test's back (between a report and its export, say)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from domain.settings import Settings
from tests import factories as f


@pytest.fixture(scope="module")
def settings(test_db: Any) -> Settings:
    return f.settings_for(test_db, auto_close_interval_seconds=0, sla_scanner_max_sleep_seconds=0)


@pytest.fixture(scope="module")
def live(test_db: Any, settings: Settings) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as served:
        yield served
