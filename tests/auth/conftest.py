from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.auth.seed import owner_engine
from tests.conftest import TestDatabase


@pytest.fixture(scope="module")
def owner(test_db: TestDatabase) -> Iterator[Engine]:
    engine = owner_engine(test_db.owner_url)
    yield engine
    engine.dispose()
