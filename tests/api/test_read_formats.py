"""PostgreSQL writes values exactly as the GraphQL layer does, for compiled reads to build JSON in the
database: DateTime, global IDs, cursors and incident numbers, for any value hypothesis draws."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, pool, text

from api.relay import encode_cursor, encode_id
from api.scalars import _serialize_datetime
from domain.db import to_sync_url
from domain.incidents import models as m
from domain.incidents.read_model import INCIDENT
from tests.conftest import TestDatabase

INSTANTS = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
) | st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
    lambda t: t.replace(microsecond=0)
)


def _engine(test_db: TestDatabase) -> Engine:
    return create_engine(to_sync_url(test_db.owner_url), poolclass=pool.NullPool)


def _one(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as connection:
        connection.execute(text("SELECT set_config('datestyle', 'ISO', true)"))
        return connection.execute(text(sql), params).scalar_one()


@settings(max_examples=150)
@given(instant=INSTANTS)
def test_times_read_alike(test_db: TestDatabase, instant: datetime) -> None:
    engine = _engine(test_db)
    try:
        assert _one(engine, "SELECT incidentdesk_json_time(:t)", t=instant) == _serialize_datetime(instant)
        assert _one(engine, "SELECT incidentdesk_iso_time(:t)", t=instant) == instant.isoformat()
    finally:
        engine.dispose()


@settings(max_examples=60)
@given(key=st.uuids(), type_name=st.sampled_from(["Incident", "IncidentEvent", "Service", "Tenant"]))
def test_global_ids_read_alike(test_db: TestDatabase, key: uuid.UUID, type_name: str) -> None:
    engine = _engine(test_db)
    try:
        assert _one(engine, "SELECT incidentdesk_global_id(:n, :k)", n=type_name, k=key) == encode_id(
            type_name, key
        )
    finally:
        engine.dispose()


@settings(max_examples=60)
@given(instant=INSTANTS, key=st.uuids(), seq=st.integers(0, 2**62))
def test_cursors_read_alike(test_db: TestDatabase, instant: datetime, key: uuid.UUID, seq: int) -> None:
    engine = _engine(test_db)
    try:
        time_cursor = _one(
            engine,
            """SELECT incidentdesk_base64url('[{"t":"' || incidentdesk_iso_time(:t) || '"},"' || :k || '"]')""",
            t=instant,
            k=str(key),
        )
        assert time_cursor == encode_cursor([instant, key])
        assert _one(engine, "SELECT incidentdesk_base64url('[' || :s || ']')", s=str(seq)) == encode_cursor(
            [seq]
        )
    finally:
        engine.dispose()


@given(number=st.integers(1, 10**12))
@settings(max_examples=60)
def test_incident_numbers_read_alike(test_db: TestDatabase, number: int) -> None:
    # f"INC-{n:06d}" pads to six digits and never cuts: lpad alone would truncate a seventh.
    expression = INCIDENT.attribute("number").sql(m.Incident.__table__.c)
    engine = _engine(test_db)
    try:
        with engine.connect() as connection:
            compiled = expression.compile(compile_kwargs={"literal_binds": True})
            found = connection.execute(
                text(f"SELECT {compiled} FROM (SELECT CAST(:n AS bigint) AS number) AS incidents"),
                {"n": number},
            ).scalar_one()
        assert found == m.Incident(number=number).display_number
    finally:
        engine.dispose()
