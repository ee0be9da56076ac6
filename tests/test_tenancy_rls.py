"""Row-level security, proved with raw SQL as the application role.

Every table of schema ``public`` with a ``tenant_id`` column is tenant-owned, found from the catalog so
that tables added by later migrations are covered without touching this file. One row per table and per
tenant is synthesised from the catalog (foreign keys point at the same tenant's rows) and written through
the owner connection, which bypasses row-level security as a superuser. Then, scoped to tenant A, the
application role must not read, update, delete or insert tenant B's rows in any of those tables.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from psycopg.errors import UniqueViolation
from sqlalchemy import JSON, Column, Connection, Engine, MetaData, Table, create_engine, insert, pool, text
from sqlalchemy import Enum as SqlEnum
from sqlalchemy.exc import DBAPIError, IntegrityError

from domain.db import APP_ROLE, to_sync_url
from domain.tables import metadata as model_metadata

TENANT_OWNED_SQL = """
SELECT c.relname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
ORDER BY c.relname
"""


@dataclass
class Seeded:
    tables: list[str]
    a: uuid.UUID
    b: uuid.UUID
    # table -> tenant -> the row written for that tenant
    rows: dict[str, dict[uuid.UUID, dict[str, Any]]]
    reflected: MetaData


_counter = itertools.count(1)


def _value(table: Table, column: Column[Any]) -> Any:
    """A fresh, valid value for a column no foreign key decides, from its type in the catalog."""
    modelled = model_metadata.tables.get(table.name)
    if modelled is not None and column.name in modelled.c:
        model_type = modelled.c[column.name].type
        if isinstance(model_type, SqlEnum):
            return model_type.enums[0]
    if isinstance(column.type, JSON):
        return {}
    try:
        kind = column.type.python_type
    except NotImplementedError:  # pragma: no cover - a type this test does not know yet
        pytest.fail(f"teach test_tenancy_rls to fill {table.name}.{column.name} ({column.type})")
    n = next(_counter)
    if kind is uuid.UUID:
        return uuid.uuid4()
    if kind is str and column.name == "timezone":
        return "UTC"  # read as a timezone by queries and migrations
    if kind is str:
        length = getattr(column.type, "length", None) or 64
        return f"{table.name[:8]}-{n}"[:length]
    if kind is bool:
        return False
    if kind is int:
        return n
    if kind in (float, Decimal):
        return kind(n)
    if kind is datetime:
        return datetime.now(UTC)
    if kind is date:
        # The first of a month satisfies every date column, billing months included.
        return date.today().replace(day=1)
    if kind in (dict, list):
        return kind()
    pytest.fail(f"teach test_tenancy_rls to fill {table.name}.{column.name} ({column.type})")


def synthesise(
    table: Table, tenant_id: uuid.UUID, tenant_row: dict[str, Any], rows: dict[str, dict[uuid.UUID, Any]]
) -> dict[str, Any]:
    """A row of ``table`` for ``tenant_id`` whose foreign keys point at that tenant's seeded rows."""
    values: dict[str, Any] = {}
    for fk in table.foreign_key_constraints:
        target = fk.referred_table.name
        parent = tenant_row if target == "tenants" else rows.get(target, {}).get(tenant_id)
        if parent is None:
            pytest.fail(f"{table.name} references {target}, which has no seeded row to point at")
        for element in fk.elements:
            values[element.parent.name] = parent[element.column.name]
    for column in table.columns:
        if column.name == "tenant_id":
            values[column.name] = tenant_id
        elif column.name not in values and (not column.nullable or column.primary_key):
            values[column.name] = _value(table, column)
    return values


def _owner(test_db: Any) -> Engine:
    return create_engine(to_sync_url(test_db.owner_url), poolclass=pool.NullPool)


@pytest.fixture(scope="module")
def app_engine(test_db: Any) -> Iterator[Engine]:
    engine = create_engine(to_sync_url(test_db.app_url), poolclass=pool.NullPool)
    yield engine
    engine.dispose()


def fill_every_tenant_table(
    connection: Connection, slugs: tuple[str, ...]
) -> tuple[list[str], MetaData, list[uuid.UUID], dict[str, dict[uuid.UUID, dict[str, Any]]]]:
    """New tenants named ``slugs``, and a row of each in every tenant-owned table, through a superuser
    connection (no row-level security): (the tables, their reflection, the tenants, the rows)."""
    assert connection.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
    tables = [row[0] for row in connection.execute(text(TENANT_OWNED_SQL))]
    reflected = MetaData()
    reflected.reflect(connection, only=[*tables, "tenants"], resolve_fks=True)
    tenant_ids = [uuid.uuid4() for _ in slugs]
    tenant_rows: dict[uuid.UUID, dict[str, Any]] = {}
    for tenant_id, slug in zip(tenant_ids, slugs, strict=True):
        row = synthesise(reflected.tables["tenants"], tenant_id, {}, {})
        row.update(id=tenant_id, slug=slug)
        connection.execute(insert(reflected.tables["tenants"]).values(**row))
        tenant_rows[tenant_id] = row
    rows: dict[str, dict[uuid.UUID, dict[str, Any]]] = {}
    owned = set(tables)
    # sorted_tables puts every referenced table before the tables that reference it.
    for table in reflected.sorted_tables:
        if table.name not in owned:
            continue
        for tenant_id in tenant_ids:
            row = synthesise(table, tenant_id, tenant_rows[tenant_id], rows)
            connection.execute(insert(table).values(**row))
            rows.setdefault(table.name, {})[tenant_id] = row
    return tables, reflected, tenant_ids, rows


@pytest.fixture(scope="module")
def seeded(test_db: Any) -> Seeded:
    engine = _owner(test_db)
    try:
        with engine.begin() as connection:
            tables, reflected, (a, b), rows = fill_every_tenant_table(connection, ("rls-a", "rls-b"))
    finally:
        engine.dispose()
    return Seeded(tables=tables, a=a, b=b, rows=rows, reflected=reflected)


def _scoped(connection: Connection, tenants: str) -> None:
    connection.execute(text("SELECT set_config('app.tenant_ids', :ids, true)"), {"ids": tenants})


def _count(connection: Connection, table: str, tenant_id: uuid.UUID | None = None) -> int:
    if tenant_id is None:
        return int(connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())
    return int(
        connection.execute(
            text(f'SELECT count(*) FROM "{table}" WHERE tenant_id = :t'), {"t": tenant_id}
        ).scalar_one()
    )


def _owner_count(test_db: Any, table: str, tenant_id: uuid.UUID) -> int:
    engine = _owner(test_db)
    try:
        with engine.connect() as connection:
            return _count(connection, table, tenant_id)
    finally:
        engine.dispose()


def _refused_by_rls(error: DBAPIError) -> bool:
    return "row-level security" in str(error.orig)


def test_the_catalog_names_the_known_tenant_owned_tables(seeded: Seeded) -> None:
    # Sanity of the discovery query: the foundation's tables are all found, reference tables are not.
    expected = {"memberships", "oauth_clients", "services", "incidents", "incident_events", "work_log"}
    assert expected <= set(seeded.tables)
    assert not {"tenants", "operators", "signing_keys", "alembic_version"} & set(seeded.tables)
    assert set(seeded.rows) == set(seeded.tables)


def test_every_tenant_owned_table_has_rls_enabled_and_forced(test_db: Any, seeded: Seeded) -> None:
    engine = _owner(test_db)
    try:
        with engine.connect() as connection:
            flags = {
                row[0]: (row[1], row[2])
                for row in connection.execute(
                    text(
                        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c"
                        " JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE n.nspname = 'public' AND c.relname = ANY(:names)"
                    ),
                    {"names": seeded.tables},
                )
            }
    finally:
        engine.dispose()
    lacking = sorted(t for t in seeded.tables if flags.get(t) != (True, True))
    assert lacking == [], f"row-level security not enabled and forced on: {lacking}"


def test_every_tenant_owned_table_reads_the_scope_once_per_statement(test_db: Any, seeded: Seeded) -> None:
    """The policy's scope is a scalar subquery, which PostgreSQL computes once per statement (an
    InitPlan), not an expression every index scan of a nested loop evaluates again."""
    engine = _owner(test_db)
    try:
        with engine.connect() as connection:
            policies = dict(
                connection.execute(
                    text(
                        "SELECT tablename, qual FROM pg_policies"
                        " WHERE schemaname = 'public' AND policyname = 'tenant_isolation'"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    per_scan = sorted(
        t for t in seeded.tables if "( SELECT incidentdesk_tenant_ids()" not in (policies.get(t) or "")
    )
    assert per_scan == [], f"the tenant scope is evaluated per scan on: {per_scan}"


def test_the_application_role_is_unprivileged_and_owns_nothing(app_engine: Engine) -> None:
    with app_engine.connect() as connection:
        assert connection.execute(text("SELECT current_user")).scalar_one() == APP_ROLE
        superuser, bypass = connection.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
        assert superuser is False
        assert bypass is False
        owned = connection.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
                " WHERE r.rolname = current_user"
            )
        ).all()
        assert owned == []


@pytest.mark.parametrize("scope", [None, ""], ids=["never-set", "empty"])
def test_with_an_empty_scope_nothing_is_visible(
    app_engine: Engine, seeded: Seeded, scope: str | None
) -> None:
    with app_engine.begin() as connection:
        if scope is not None:
            _scoped(connection, scope)
        visible = {table: _count(connection, table) for table in seeded.tables}
    assert visible == dict.fromkeys(seeded.tables, 0)


def test_scoped_to_a_only_a_is_visible(app_engine: Engine, seeded: Seeded) -> None:
    with app_engine.begin() as connection:
        _scoped(connection, str(seeded.a))
        seen = {
            table: (_count(connection, table, seeded.a), _count(connection, table)) for table in seeded.tables
        }
    # Each table shows A's one row, and the unfiltered count is that same row: nothing of B.
    assert seen == dict.fromkeys(seeded.tables, (1, 1))


def test_scoped_to_a_b_rows_cannot_be_read(app_engine: Engine, seeded: Seeded) -> None:
    with app_engine.begin() as connection:
        _scoped(connection, str(seeded.a))
        leaked = {table: _count(connection, table, seeded.b) for table in seeded.tables}
    assert leaked == dict.fromkeys(seeded.tables, 0)


def test_scoped_to_a_b_rows_cannot_be_updated(test_db: Any, app_engine: Engine, seeded: Seeded) -> None:
    touched = {}
    for table in seeded.tables:
        with app_engine.begin() as connection:
            _scoped(connection, str(seeded.a))
            result = connection.execute(
                text(f'UPDATE "{table}" SET tenant_id = tenant_id WHERE tenant_id = :b'), {"b": seeded.b}
            )
            touched[table] = result.rowcount
    assert touched == dict.fromkeys(seeded.tables, 0)


def test_scoped_to_a_b_rows_cannot_be_deleted(test_db: Any, app_engine: Engine, seeded: Seeded) -> None:
    deleted = {}
    for table in seeded.tables:
        with app_engine.begin() as connection:
            _scoped(connection, str(seeded.a))
            deleted[table] = connection.execute(
                text(f'DELETE FROM "{table}" WHERE tenant_id = :b'), {"b": seeded.b}
            ).rowcount
    assert deleted == dict.fromkeys(seeded.tables, 0)
    remaining = {table: _owner_count(test_db, table, seeded.b) for table in seeded.tables}
    assert remaining == dict.fromkeys(seeded.tables, 1)


def test_scoped_to_a_inserting_a_b_row_is_refused(app_engine: Engine, seeded: Seeded) -> None:
    accepted = []
    for table in seeded.tables:
        reflected = seeded.reflected.tables[table]
        # A fresh row for B, its foreign keys pointing at B's own rows, as a careless resolver might write.
        row = synthesise(reflected, seeded.b, {"id": seeded.b}, seeded.rows)
        with app_engine.connect() as connection:
            try:
                with connection.begin():
                    _scoped(connection, str(seeded.a))
                    connection.execute(insert(reflected).values(**row))
            except DBAPIError as error:
                assert _refused_by_rls(error), (
                    f"{table}: refused, but not by row-level security: {error.orig}"
                )
            else:
                accepted.append(table)
            # The control: in B's own scope the same row passes the policy (then is rolled back), so the
            # refusal above came from the scope. Where the key repeats B's seeded row (a one-row-per-parent
            # table), the unique index answers instead, which it only does after the policy let it through.
            transaction = connection.begin()
            _scoped(connection, str(seeded.b))
            try:
                connection.execute(insert(reflected).values(**row))
            except IntegrityError as error:
                assert isinstance(error.orig, UniqueViolation), f"{table}: {error.orig}"
            transaction.rollback()
    assert accepted == [], f"the database accepted tenant B rows while scoped to A in: {accepted}"


def test_scoped_to_a_moving_a_row_to_b_is_refused(app_engine: Engine, seeded: Seeded) -> None:
    accepted = []
    for table in seeded.tables:
        with app_engine.connect() as connection:
            try:
                with connection.begin():
                    _scoped(connection, str(seeded.a))
                    connection.execute(
                        text(f'UPDATE "{table}" SET tenant_id = :b WHERE tenant_id = :a'),
                        {"a": seeded.a, "b": seeded.b},
                    )
            except DBAPIError as error:
                assert _refused_by_rls(error), (
                    f"{table}: refused, but not by row-level security: {error.orig}"
                )
            else:
                accepted.append(table)
    assert accepted == [], f"rows were moved from tenant A to tenant B in: {accepted}"


def test_scoped_to_both_both_are_visible(app_engine: Engine, seeded: Seeded) -> None:
    # The scope is a list: a provider's agent sees every tenant it serves, and only those.
    with app_engine.begin() as connection:
        _scoped(connection, f"{seeded.a},{seeded.b}")
        seen = {table: _count(connection, table) for table in seeded.tables}
    assert seen == dict.fromkeys(seeded.tables, 2)
