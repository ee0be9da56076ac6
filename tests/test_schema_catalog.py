"""The schema stays distributable by tenant (DESIGN.md, "Growing past one database").

Read from the catalog of a migrated database, so that every later migration is held to the same rules:
- a tenant-owned table (one with a ``tenant_id`` column) has ``tenant_id`` first in its primary key;
- a foreign key between tenant-owned tables carries ``tenant_id`` to ``tenant_id``;
- a unique constraint or unique index on a tenant-owned table includes ``tenant_id``;
- reference tables (no ``tenant_id``: tenants, operators, signing_keys, alembic_version) never point at
  tenant-owned ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, Engine, text

# Unique keys that are global by design, as (table, columns). Keep each one explained.
GLOBALLY_UNIQUE: dict[tuple[str, tuple[str, ...]], str] = {
    # A client authenticates at the token endpoint by client_id alone, before any tenant is known, so the
    # id must name one client across all tenants. It is a random 64-character token minted by the service.
    ("oauth_clients", ("client_id",)): "client_credentials authentication looks clients up by id alone",
}

REFERENCE_TABLES = {"tenants", "operators", "signing_keys", "alembic_version"}

CATALOG_SQL = """
SELECT c.relname AS table_name,
       k.conname AS name,
       k.contype AS kind,
       ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i) AS columns,
       r.relname AS referenced_table,
       ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i)
         AS referenced_columns
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class r ON r.oid = k.confrelid
WHERE n.nspname = 'public' AND k.contype IN ('p', 'u', 'f')
ORDER BY c.relname, k.conname
"""

# Unique indexes created without a constraint (CREATE UNIQUE INDEX), expression ones included:
# an expression column shows as NULL and never counts as tenant_id.
UNIQUE_INDEX_SQL = """
SELECT t.relname AS table_name,
       i.relname AS name,
       ARRAY(SELECT a.attname::text FROM unnest(x.indkey::int2[]) WITH ORDINALITY u(n, o)
             LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.n
             WHERE u.o <= x.indnkeyatts ORDER BY u.o) AS columns
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = 'public' AND x.indisunique
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)
ORDER BY t.relname, i.relname
"""

TABLES_SQL = """
SELECT c.relname,
       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
               AND NOT a.attisdropped) AS tenant_owned
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
"""


@dataclass(frozen=True)
class Key:
    table: str
    name: str
    kind: str  # p, u, f, or i (a unique index without a constraint)
    columns: tuple[str | None, ...]
    referenced_table: str | None = None
    referenced_columns: tuple[str, ...] = ()


@dataclass
class Catalog:
    tenant_owned: set[str]
    reference: set[str]
    keys: list[Key]

    def of(self, kind: str) -> list[Key]:
        return [k for k in self.keys if k.kind == kind]


def read_catalog(connection: Connection) -> Catalog:
    tables = {row[0]: bool(row[1]) for row in connection.execute(text(TABLES_SQL))}
    keys = [
        Key(
            table=row.table_name,
            name=row.name,
            kind=row.kind,
            columns=tuple(row.columns),
            referenced_table=row.referenced_table,
            referenced_columns=tuple(row.referenced_columns or ()),
        )
        for row in connection.execute(text(CATALOG_SQL))
    ]
    keys += [
        Key(table=row.table_name, name=row.name, kind="i", columns=tuple(row.columns))
        for row in connection.execute(text(UNIQUE_INDEX_SQL))
    ]
    return Catalog(
        tenant_owned={t for t, owned in tables.items() if owned},
        reference={t for t, owned in tables.items() if not owned},
        keys=keys,
    )


def primary_key_problems(catalog: Catalog) -> list[str]:
    primary = {k.table: k for k in catalog.of("p")}
    problems = []
    for table in sorted(catalog.tenant_owned):
        key = primary.get(table)
        if key is None:
            problems.append(f"{table}: no primary key")
        elif key.columns[0] != "tenant_id":
            problems.append(f"{table}: primary key {key.columns} does not start with tenant_id")
    return problems


def foreign_key_problems(catalog: Catalog) -> list[str]:
    problems = []
    for key in catalog.of("f"):
        source_owned = key.table in catalog.tenant_owned
        target_owned = key.referenced_table in catalog.tenant_owned
        if not source_owned and target_owned:
            problems.append(
                f"{key.table}.{key.name}: a reference table points at tenant-owned {key.referenced_table}"
            )
        elif source_owned and target_owned:
            pairs = dict(zip(key.columns, key.referenced_columns, strict=True))
            if pairs.get("tenant_id") != "tenant_id":
                problems.append(
                    f"{key.table}.{key.name}: {key.columns} -> {key.referenced_table}{key.referenced_columns}"
                    " does not carry tenant_id to tenant_id"
                )
    return problems


def unique_problems(catalog: Catalog) -> list[str]:
    problems = []
    for key in [*catalog.of("u"), *catalog.of("i")]:
        if key.table not in catalog.tenant_owned or "tenant_id" in key.columns:
            continue
        if (key.table, key.columns) in GLOBALLY_UNIQUE:
            continue
        problems.append(f"{key.table}.{key.name}: unique on {key.columns} without tenant_id")
    return problems


@pytest.fixture(scope="module")
def catalog(owner: Engine) -> Catalog:
    with owner.connect() as connection:
        return read_catalog(connection)


def test_tables_are_tenant_owned_or_known_reference_tables(catalog: Catalog) -> None:
    assert {"incidents", "incident_events", "memberships", "services"} <= catalog.tenant_owned
    unexpected = catalog.reference - REFERENCE_TABLES
    assert unexpected == set(), (
        f"tables without tenant_id: {sorted(unexpected)}. Give them tenant_id, or, if they truly are small"
        " reference tables shared by all tenants, add them to REFERENCE_TABLES with a reason"
    )


def test_primary_keys_start_with_tenant_id(catalog: Catalog) -> None:
    assert primary_key_problems(catalog) == []


def test_foreign_keys_between_tenant_owned_tables_include_tenant_id(catalog: Catalog) -> None:
    assert foreign_key_problems(catalog) == []


def test_unique_constraints_include_tenant_id(catalog: Catalog) -> None:
    assert unique_problems(catalog) == []


def test_the_allow_list_names_keys_that_exist(catalog: Catalog) -> None:
    present = {(k.table, k.columns) for k in [*catalog.of("u"), *catalog.of("i")]}
    stale = [key for key in GLOBALLY_UNIQUE if key not in present]
    assert stale == [], f"GLOBALLY_UNIQUE names keys that no longer exist: {stale}"


def test_the_cross_tenant_parent_link_is_no_foreign_key(catalog: Catalog) -> None:
    # A child created by affectTenants points at the provider's parent in another tenant: the service
    # checks that pair; a foreign key would tie two tenants' shards together.
    links = [k for k in catalog.of("f") if k.table == "incident_links"]
    assert all("parent_id" not in k.columns for k in links)


def test_the_rules_catch_a_table_that_breaks_them(owner: Engine) -> None:
    # The checks themselves, against a table built to break every rule (rolled back, never committed).
    with owner.connect() as connection, connection.begin() as transaction:
        connection.execute(
            text(
                "CREATE TABLE bad_widgets (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, code text UNIQUE,"
                " incident_tenant_id uuid, incident_id uuid,"
                " FOREIGN KEY (incident_tenant_id, incident_id) REFERENCES incidents (tenant_id, id))"
            )
        )
        connection.execute(text("CREATE UNIQUE INDEX bad_widgets_lower ON bad_widgets (lower(code))"))
        connection.execute(
            text(
                "CREATE TABLE bad_refs (id uuid PRIMARY KEY, t uuid, w uuid, FOREIGN KEY (t, w)"
                " REFERENCES incidents (tenant_id, id))"
            )
        )
        catalog = read_catalog(connection)
        transaction.rollback()
    assert primary_key_problems(catalog) == ["bad_widgets: primary key ('id',) does not start with tenant_id"]
    fk = foreign_key_problems(catalog)
    assert len(fk) == 2
    assert any(p.startswith("bad_widgets.") and "does not carry tenant_id" in p for p in fk)
    assert any(p.startswith("bad_refs.") and "reference table points at" in p for p in fk)
    assert sorted(unique_problems(catalog)) == [
        "bad_widgets.bad_widgets_code_key: unique on ('code',) without tenant_id",
        "bad_widgets.bad_widgets_lower: unique on (None,) without tenant_id",
    ]
