"""The PostgreSQL cluster the benchmarks run on: an embedded one of their own (``pgserver``, kept in the
bench data dir between runs so generated data is reused) or one named by a URL.

The embedded cluster is tuned like a small dedicated database server (shared buffers, WAL size), the
same for both servers under test. Its log receives the statements of a dedicated counting run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from domain.db import app_url_from_owner_url
from domain.migrate import upgrade

log = logging.getLogger("bench")

# Applied with ALTER SYSTEM to the embedded cluster only; a URL-named cluster is used as configured.
EMBEDDED_SETTINGS = {
    "shared_buffers": "1GB",
    "effective_cache_size": "4GB",
    "max_connections": "200",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "maintenance_work_mem": "256MB",
    "random_page_cost": "1.1",
    # Statement counting reads the log: every line names its role and database.
    "log_line_prefix": "%m [%p] %u@%d ",
}


def libpq_url(url: str) -> str:
    """A plain libpq URL (psycopg, node-postgres) from a SQLAlchemy-style one."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Cluster:
    """One PostgreSQL cluster; ``admin_url`` is a superuser (or owner-capable) URL to any database."""

    admin_url: str
    embedded: bool
    # Whose CPU time counts as the database's: the postmaster and its children. None when not local.
    postmaster_pid: int | None
    # Where the server writes its log (statement counting); None when it cannot be read from here.
    log_file: Path | None

    def owner_url(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)

    def app_url(self, database: str) -> str:
        return app_url_from_owner_url(self.owner_url(database))

    def connect(self, database: str = "postgres", **options: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(libpq_url(self.owner_url(database)), **options)

    def exists(self, database: str) -> bool:
        with self.connect(autocommit=True) as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        return row is not None

    def create(self, database: str) -> None:
        with self.connect(autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')

    def drop(self, database: str) -> None:
        with self.connect(autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def fresh(self, database: str) -> str:
        """An empty database migrated to every head; returns its owner URL."""
        self.drop(database)
        self.create(database)
        return self.migrate(database)

    def migrate(self, database: str) -> str:
        url = self.owner_url(database)
        upgrade(url)
        return url

    def label(self, database: str) -> dict[str, Any] | None:
        """What a database was made for (the generator's description in its comment), if anything."""
        with self.connect(autocommit=True) as conn:
            row = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                (database,),
            ).fetchone()
        if row is None or not row[0]:
            return None
        try:
            found: dict[str, Any] = json.loads(row[0])
        except ValueError:
            return None
        return found

    def set_label(self, database: str, label: dict[str, Any]) -> None:
        with self.connect(autocommit=True) as conn:
            text = json.dumps(label, sort_keys=True).replace("'", "''")
            conn.execute(f"COMMENT ON DATABASE \"{database}\" IS '{text}'")

    def server_version(self) -> str:
        with self.connect(autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"


def _local_postmaster(admin_url: str) -> int | None:
    """The postmaster's pid when the cluster runs on this machine and its data directory is readable."""
    try:
        with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
            row = conn.execute("SELECT current_setting('data_directory', true)").fetchone()
    except psycopg.Error:
        return None
    if not row or not row[0]:
        return None
    try:
        pid = int((Path(row[0]) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def _tune(server: Any) -> bool:
    """Apply EMBEDDED_SETTINGS; True when the server must restart for some of them."""
    with psycopg.connect(libpq_url(server.get_uri("postgres")), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT name, current_setting(name), context FROM pg_settings WHERE name = ANY(%s)",
            (list(EMBEDDED_SETTINGS),),
        ).fetchall()
        restart = False
        for name, value, context in rows:
            if value != EMBEDDED_SETTINGS[name]:
                conn.execute(f"ALTER SYSTEM SET {name} = '{EMBEDDED_SETTINGS[name]}'")
                # Settings of the postmaster context (shared_buffers...) take a restart; others a reload.
                restart = restart or context == "postmaster"
        conn.execute("SELECT pg_reload_conf()")
    return restart


@contextlib.contextmanager
def embedded(data_dir: Path) -> Iterator[Cluster]:
    """The bench's own cluster in ``data_dir/pg``, started for the run and stopped after it."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]
    from pgserver.utils import PostmasterInfo

    pgdata = (data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(pgdata), cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        if _tune(server):
            log.info("restarting the embedded PostgreSQL for its settings")
            pg_ctl(
                ["-w", "-m", "fast", "-l", str(pgdata / "log"), "restart"],
                pgdata=pgdata,
                user=server.system_user,
                timeout=120,
            )
            # pgserver stops the postmaster it knows of when the last handle closes: the new one.
            server._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata)
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        yield Cluster(server.get_uri("postgres"), True, pid, pgdata / "log")
    finally:
        server.cleanup()


@contextlib.contextmanager
def open_cluster(url: str | None, data_dir: Path) -> Iterator[Cluster]:
    """The cluster named by ``url`` (or INCIDENTDESK_BENCH_DATABASE_URL, INCIDENTDESK_DATABASE_URL), else
    the embedded one."""
    url = (
        url
        or os.environ.get("INCIDENTDESK_BENCH_DATABASE_URL")
        or os.environ.get("INCIDENTDESK_DATABASE_URL")
    )
    if url:
        yield Cluster(url, False, _local_postmaster(url), None)
        return
    with embedded(data_dir) as cluster:
        yield cluster
