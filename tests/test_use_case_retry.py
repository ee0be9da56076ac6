"""A use case that writes runs again when PostgreSQL aborts it for a deadlock or a serialization failure,
whoever calls it: the retry lives in the domain (``domain.db.use_case``), not at one edge."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from domain.db import Database, Scope, use_case
from domain.incidents import handling, service


def _raising(sqlstate: str) -> str:
    # PostgreSQL itself raises the error, so it reaches the use case exactly as a real deadlock would.
    return f"DO $$ BEGIN RAISE EXCEPTION 'aborted' USING ERRCODE = '{sqlstate}'; END $$"


async def test_a_deadlocked_use_case_runs_again_until_it_commits(db: Database) -> None:
    calls: list[int] = []

    @use_case
    async def record(db: Database, *, failures: int) -> int:
        calls.append(len(calls))
        async with db.transaction(Scope()) as session:
            if len(calls) <= failures:
                await session.execute(text(_raising("40P01" if len(calls) % 2 else "40001")))
            return len(calls)

    assert await record(db, failures=2) == 3
    assert calls == [0, 1, 2]


async def test_other_errors_are_not_retried(db: Database) -> None:
    calls: list[int] = []

    @use_case
    async def record(db: Database) -> None:
        calls.append(1)
        async with db.transaction(Scope()) as session:
            await session.execute(text(_raising("23505")))

    with pytest.raises(DBAPIError):
        await record(db)
    assert calls == [1]


def test_the_practice_s_use_cases_retry_themselves() -> None:
    for function in (service.report_incident, service.add_comment, handling.resolve_incident):
        assert hasattr(function, "__wrapped__"), function.__name__
