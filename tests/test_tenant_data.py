"""``incidentdesk tenant export|import|delete`` over the real command line and a real PostgreSQL.

Each test seeds its own tenants with one row in every tenant-owned table (the catalog decides which, as
``test_tenancy_rls`` does), then makes the child tenant's incident the child of a provider's parent
incident in another tenant, the way ``affectTenants`` does. Rows are compared as SQLAlchemy reads them
(Python values, every column), independently of the export's own JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, MetaData, create_engine, pool, select, text

from domain.db import Database, to_sync_url
from domain.incidents import major
from domain.incidents import service as incidents
from domain.incidents.enums import Visibility
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import Cluster, TestDatabase, fresh_database
from tests.test_tenancy_rls import TENANT_OWNED_SQL, fill_every_tenant_table

Rows = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def _cli(database: TestDatabase, *args: str, stdout: Path | None = None) -> Result:
    """One run of ``incidentdesk`` as a subprocess; ``stdout`` writes its output into that file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTDESK_")}
    env.update(
        INCIDENTDESK_DATABASE_URL=database.owner_url,
        INCIDENTDESK_DATA_DIR=os.environ["INCIDENTDESK_DATA_DIR"],
        INCIDENTDESK_LOG_LEVEL="warning",
    )
    argv = [sys.executable, "-m", "api.cli", *args]
    if stdout is None:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        return Result(done.returncode, done.stdout, done.stderr)
    with stdout.open("w", encoding="utf-8") as file:
        ran = subprocess.run(argv, env=env, stdout=file, stderr=subprocess.PIPE, text=True, timeout=120)
    return Result(ran.returncode, "", ran.stderr)


def _ok(database: TestDatabase, *args: str, stdout: Path | None = None) -> Result:
    result = _cli(database, *args, stdout=stdout)
    assert result.code == 0, result.err
    return result


@dataclass(frozen=True)
class Family:
    """A provider, a customer whose incident is the child of the provider's, and a bystander."""

    provider: uuid.UUID
    child: uuid.UUID
    other: uuid.UUID
    child_slug: str
    parent_incident: uuid.UUID
    child_incident: uuid.UUID
    tables: list[str]
    reflected: MetaData


def _seed(connection: Connection, label: str) -> Family:
    slugs = (f"{label}-provider", f"{label}-child", f"{label}-other")
    tables, reflected, (provider, child, other), rows = fill_every_tenant_table(connection, slugs)
    parent_incident = rows["incidents"][provider]["id"]
    child_incident = rows["incidents"][child]["id"]
    connection.execute(
        text("UPDATE incidents SET affected_tenant_ids = ARRAY[CAST(:c AS uuid)] WHERE tenant_id = :p"),
        {"c": child, "p": provider},
    )
    connection.execute(
        text("UPDATE incident_links SET parent_tenant_id = :p, parent_id = :i WHERE tenant_id = :c"),
        {"p": provider, "i": parent_incident, "c": child},
    )
    # References to the child's own incident that are no foreign keys, and ids inside a jsonb payload:
    # a new slug must give them the incident's new id, and keep the provider's.
    for table in ("alerts", "webhook_deliveries"):
        connection.execute(
            text(f"UPDATE {table} SET incident_id = :i WHERE tenant_id = :c"),
            {"i": child_incident, "c": child},
        )
    data = {"incidentId": str(child_incident), "parentId": str(parent_incident), "note": "kept"}
    connection.execute(
        text("UPDATE incident_events SET data = CAST(:d AS jsonb) WHERE tenant_id = :c"),
        {"d": json.dumps(data), "c": child},
    )
    return Family(provider, child, other, slugs[1], parent_incident, child_incident, tables, reflected)


@pytest.fixture
def family(owner: Engine) -> Family:
    label = "td" + uuid.uuid4().hex[:6]
    with owner.begin() as connection:
        return _seed(connection, label)


def _rows(engine: Engine, family: Family, tenant_id: uuid.UUID) -> Rows:
    """Every row of the tenant in every tenant-owned table, and its ``tenants`` row, as Python values."""
    found: Rows = {}
    with engine.connect() as connection:
        for name in [*family.tables, "tenants"]:
            table = family.reflected.tables[name]
            column = table.c.id if name == "tenants" else table.c.tenant_id
            rows = connection.execute(select(table).where(column == tenant_id)).mappings()
            found[name] = sorted((dict(r) for r in rows), key=repr)
    return found


def _parent(engine: Engine, family: Family) -> list[uuid.UUID] | None:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT affected_tenant_ids FROM incidents WHERE tenant_id = :p AND id = :i"),
            {"p": family.provider, "i": family.parent_incident},
        ).scalar()


def test_the_export_covers_every_table_with_a_tenant_id(
    test_db: TestDatabase, owner: Engine, family: Family, tmp_path: Path
) -> None:
    """A table a migration adds with a tenant_id is exported without anyone listing it: the header names
    exactly the catalog's tables with a ``tenant_id``, and the seeded row of each is in the file."""
    dump = tmp_path / "child.jsonl"
    result = _ok(test_db, "tenant", "export", family.child_slug, stdout=dump)
    lines = dump.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    with owner.connect() as connection:
        catalog = {row[0] for row in connection.execute(text(TENANT_OWNED_SQL))}
    assert set(header["tables"]) == catalog
    assert header["schema_revision"]
    assert header["tenant"]["id"] == str(family.child)
    assert header["counts"] == dict.fromkeys(header["tables"], 1)
    written = [json.loads(line)["table"] for line in lines[1:]]
    assert sorted(written) == sorted(catalog)
    # Progress on stderr names tables and counts, never a row.
    assert "exported 1/1 rows of incidents" in result.err
    assert "kept" not in result.err


def test_export_delete_import_round_trips_every_row_and_keeps_the_providers_parent(
    test_db: TestDatabase, owner: Engine, family: Family, tmp_path: Path
) -> None:
    child_before = _rows(owner, family, family.child)
    others_before = {t: _rows(owner, family, t) for t in (family.provider, family.other)}
    dump = tmp_path / "child.jsonl"
    _ok(test_db, "tenant", "export", family.child_slug, stdout=dump)

    deleted = json.loads(
        _ok(test_db, "tenant", "delete", family.child_slug, "--confirm", family.child_slug).out
    )
    assert deleted["deleted"] == {name: len(rows) for name, rows in child_before.items()}
    assert all(rows == [] for rows in _rows(owner, family, family.child).values())
    # The other tenants are untouched, but for the provider's parent incident forgetting the child
    # tenant among those it affects (it would otherwise lock the counter of a tenant that is gone).
    assert deleted["parentsUpdated"] == 1
    assert _parent(owner, family) == []
    provider_now = _rows(owner, family, family.provider)
    provider_now["incidents"][0]["affected_tenant_ids"] = [family.child]
    assert provider_now == others_before[family.provider]
    assert _rows(owner, family, family.other) == others_before[family.other]

    restored = json.loads(_ok(test_db, "tenant", "import", str(dump)).out)
    assert restored["id"] == str(family.child) and restored["newIds"] is False
    assert restored["linksDropped"] == 0
    assert _rows(owner, family, family.child) == child_before
    assert {t: _rows(owner, family, t) for t in others_before} == others_before

    # The same file again: the tenant exists, so nothing is written.
    again = _cli(test_db, "tenant", "import", str(dump))
    assert again.code == 2 and "delete it first" in again.err
    assert _rows(owner, family, family.child) == child_before


def _mapping(before: Rows, after: Rows, family: Family, new_tenant: uuid.UUID) -> dict[uuid.UUID, uuid.UUID]:
    """Old id -> new id, read from the primary keys of each table's one seeded row."""
    ids: dict[uuid.UUID, uuid.UUID] = {family.child: new_tenant}
    for name, rows in before.items():
        if name == "tenants":
            continue
        table = family.reflected.tables[name]
        assert len(rows) == len(after[name]) == 1, name
        for column in table.primary_key.columns:
            old, new = rows[0][column.name], after[name][0][column.name]
            if isinstance(old, uuid.UUID):
                assert ids.setdefault(old, new) == new, f"{name}.{column.name} remapped inconsistently"
    return ids


def _remapped(value: Any, ids: dict[uuid.UUID, uuid.UUID]) -> Any:
    if isinstance(value, uuid.UUID):
        return ids.get(value, value)
    if isinstance(value, str):
        try:
            return str(ids.get(uuid.UUID(value), value)) if len(value) == 36 else value
        except ValueError:
            return value
    if isinstance(value, list):
        return [_remapped(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _remapped(v, ids) for k, v in value.items()}
    return value


def test_import_under_a_new_slug_gives_new_ids_and_keeps_numbers_and_links(
    test_db: TestDatabase, owner: Engine, family: Family, tmp_path: Path
) -> None:
    dump = tmp_path / "child.jsonl"
    _ok(test_db, "tenant", "export", family.child_slug, stdout=dump)
    before = _rows(owner, family, family.child)
    others_before = {t: _rows(owner, family, t) for t in (family.provider, family.other)}
    # An OAuth client's id is unique across tenants: the copy replaces the original, as after a move.
    _ok(test_db, "tenant", "delete", family.child_slug, "--confirm", family.child_slug)

    copy_slug = f"{family.child_slug}-copy"
    restored = json.loads(_ok(test_db, "tenant", "import", str(dump), "--slug", copy_slug).out)
    new_tenant = uuid.UUID(restored["id"])
    assert new_tenant != family.child and restored["newIds"] is True
    after = _rows(owner, family, new_tenant)

    ids = _mapping(before, after, family, new_tenant)
    assert len(set(ids.values())) == len(ids), "two old ids became one"
    assert not set(ids) & set(ids.values()), "an id was kept"
    expected = {
        name: sorted(
            ({k: _remapped(v, ids) for k, v in row.items()} for row in rows),
            key=repr,
        )
        for name, rows in before.items()
    }
    expected["tenants"][0]["slug"] = copy_slug
    assert after == expected
    # The numbering is the tenant's own: the same INC numbers, the same counters.
    assert after["incidents"][0]["number"] == before["incidents"][0]["number"]
    assert (
        after["tenant_counters"][0]["last_incident_number"]
        == before["tenant_counters"][0]["last_incident_number"]
    )
    # References that are no foreign keys follow the incident; the provider's parent is kept.
    new_incident = ids[family.child_incident]
    assert after["alerts"][0]["incident_id"] == new_incident
    assert after["incident_events"][0]["data"] == {
        "incidentId": str(new_incident),
        "parentId": str(family.parent_incident),
        "note": "kept",
    }
    assert after["incident_links"][0]["parent_id"] == family.parent_incident
    # The provider's parent names the new tenant in place of the deleted one; nothing else of it changed.
    assert _parent(owner, family) == [new_tenant]
    provider_after = _rows(owner, family, family.provider)
    for row in provider_after["incidents"]:
        row["affected_tenant_ids"] = [family.child]
    assert provider_after == others_before[family.provider]
    assert _rows(owner, family, family.other) == others_before[family.other]


def test_import_into_an_empty_database_restores_links_once_the_other_side_exists(
    test_db: TestDatabase,
    owner: Engine,
    family: Family,
    cluster: Cluster,
    template_name: str,
    tmp_path: Path,
) -> None:
    provider_slug = family.child_slug.replace("-child", "-provider")
    provider_dump, child_dump = tmp_path / "provider.jsonl", tmp_path / "child.jsonl"
    _ok(test_db, "tenant", "export", provider_slug, stdout=provider_dump)
    _ok(test_db, "tenant", "export", family.child_slug, stdout=child_dump)
    child_before = _rows(owner, family, family.child)
    empty = fresh_database(cluster, "tenant_data_empty", template=template_name)
    target = create_engine(to_sync_url(empty.owner_url), poolclass=pool.NullPool)
    try:
        # The provider first: the child tenant its parent names is not there yet, so the list forgets it
        # (and the provider's own seeded link points at no incident at all).
        first = json.loads(_ok(empty, "tenant", "import", str(provider_dump)).out)
        assert first["parentsTrimmed"] == 1 and first["linksDropped"] == 1
        assert _parent(target, family) == []
        # Then the child: its parent exists, so its link comes back and every row is as exported.
        second = json.loads(_ok(empty, "tenant", "import", str(child_dump)).out)
        assert second["linksDropped"] == 0
        assert _rows(target, family, family.child) == child_before
        assert _parent(target, family) == [family.child]
    finally:
        target.dispose()
        cluster.drop_database(empty.name)


def test_delete_needs_the_slug_confirmed_and_an_import_a_whole_file(
    test_db: TestDatabase, owner: Engine, family: Family, tmp_path: Path
) -> None:
    before = _rows(owner, family, family.child)
    refused = _cli(test_db, "tenant", "delete", family.child_slug, "--confirm", "something-else")
    assert refused.code == 2 and "--confirm" in refused.err
    unknown = _cli(test_db, "tenant", "delete", "no-such-tenant", "--confirm", "no-such-tenant")
    assert unknown.code == 2 and "not found" in unknown.err
    assert _rows(owner, family, family.child) == before

    dump = tmp_path / "child.jsonl"
    _ok(test_db, "tenant", "export", family.child_slug, stdout=dump)
    # A copy beside the original: the OAuth client's id is unique across tenants, so nothing is written.
    beside = _cli(test_db, "tenant", "import", str(dump), "--slug", f"{family.child_slug}-copy")
    assert beside.code == 2 and "oauth_clients_client_id_key" in beside.err
    assert _slug_count(owner, f"{family.child_slug}-copy") == 0

    # A file cut short is refused as a whole: the tenant stays deleted, and the whole file restores it.
    _ok(test_db, "tenant", "delete", family.child_slug, "--confirm", family.child_slug)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(dump.read_text(encoding="utf-8").splitlines(keepends=True)[:-3]), encoding="utf-8")
    incomplete = _cli(test_db, "tenant", "import", str(cut))
    assert incomplete.code == 2 and "incomplete" in incomplete.err
    assert _slug_count(owner, family.child_slug) == 0
    _ok(test_db, "tenant", "import", str(dump))
    assert _rows(owner, family, family.child) == before


def _slug_count(engine: Engine, slug: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(text("SELECT count(*) FROM tenants WHERE slug = :s"), {"s": slug}).scalar_one()
        )


def _child_events(engine: Engine, tenant_id: uuid.UUID, incident_id: uuid.UUID) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT count(*) FROM incident_events WHERE tenant_id = :t AND incident_id = :i"),
                {"t": tenant_id, "i": incident_id},
            ).scalar_one()
        )


async def test_a_child_tenant_restored_follows_its_providers_parent_again(
    test_db: TestDatabase, db: Database, owner: Engine, tmp_path: Path
) -> None:
    """The family made by the use cases themselves: the provider's parent lives on while its child
    tenant is gone (a public comment flows to no one, and fails nothing), and flows to it again once the
    tenant is imported."""
    label = "tdf" + uuid.uuid4().hex[:6]
    provider = await f.create_tenant(db, f"{label}-provider")
    child = await f.create_tenant(db, f"{label}-child")
    for tenant in (provider, child):
        await f.add_member(db, tenant.id, "mallory", Role.MANAGER)
    mallory = f.actor("mallory", {provider.id: Role.MANAGER, child.id: Role.MANAGER})
    outage = await f.report(db, mallory, provider.id, "Network trouble")
    await major.declare_major_incident(
        db, mallory, incident_id=outage.id, expected_version=None, commander="mallory"
    )
    [kid] = await major.affect_tenants(
        db,
        mallory,
        incident_id=outage.id,
        tenant_ids=[child.id],
        public_title="Network trouble",
        public_description="Packet loss upstream.",
    )
    dump = tmp_path / "child.jsonl"
    await asyncio.to_thread(_ok, test_db, "tenant", "export", child.slug, stdout=dump)
    events_before = _child_events(owner, child.id, kid.id)

    await asyncio.to_thread(_ok, test_db, "tenant", "delete", child.slug, "--confirm", child.slug)
    await incidents.add_comment(
        db, mallory, incident_id=outage.id, body="Carrier is rerouting.", visibility=Visibility.PUBLIC
    )
    with owner.connect() as connection:
        parent = connection.execute(
            text("SELECT affected_tenant_ids FROM incidents WHERE tenant_id = :p AND id = :i"),
            {"p": provider.id, "i": outage.id},
        ).scalar_one()
    assert parent == []

    restored = json.loads((await asyncio.to_thread(_ok, test_db, "tenant", "import", str(dump))).out)
    assert restored["linksDropped"] == 0
    assert _child_events(owner, child.id, kid.id) == events_before
    await incidents.add_comment(
        db, mallory, incident_id=outage.id, body="Fixed upstream.", visibility=Visibility.PUBLIC
    )
    assert _child_events(owner, child.id, kid.id) == events_before + 1
