"""The three stories of incident management, end to end over HTTP with real tokens: one migrated database
and one real uvicorn per story. The app's own auto-close loop is off, so nothing closes behind a story."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from domain.settings import Settings
from tests import factories as f


@pytest.fixture(scope="module")
def settings(test_db: Any) -> Settings:
    return f.settings_for(test_db, auto_close_interval_seconds=0)


@pytest.fixture(scope="module")
def live(test_db: Any, settings: Settings) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as served:
        yield served
