"""The read path: SQL functions that format values exactly as the API does, and access-change notices.

Compiled reads build the response JSON inside PostgreSQL, so every value must come out byte for byte as
the GraphQL layer writes it: DateTime as RFC 3339 in UTC with a ``Z``, global IDs and cursors as
unpadded URL-safe base64. These functions are plain SQL, so the planner inlines them.

Replicas cache who a token's subject is (memberships, operators, tenant slugs). Statement triggers on
those tables send a notice on ``incidentdesk_access`` when the transaction commits, whoever changed them
and however, and every replica drops its cached principals on hearing it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACCESS_TABLES = ("memberships", "operators", "tenants", "oauth_clients")

FUNCTIONS = (
    # RFC 3339 in UTC, as api/scalars.py writes a DateTime: PostgreSQL's own text of the UTC timestamp
    # (fraction without trailing zeros) with a T and a Z. Compiled reads run with DateStyle ISO.
    """
    CREATE FUNCTION incidentdesk_json_time(t timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT replace((t AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z'
    $$
    """,
    # Python's datetime.isoformat() of a UTC value: what a cursor carries for a timestamp sort key.
    """
    CREATE FUNCTION incidentdesk_iso_time(t timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
          || CASE WHEN extract(microseconds FROM t)::bigint % 1000000 = 0 THEN ''
                  ELSE '.' || to_char(t AT TIME ZONE 'UTC', 'US') END
          || '+00:00'
    $$
    """,
    # Unpadded URL-safe base64 (PostgreSQL's encoder also breaks lines every 76 characters).
    """
    CREATE FUNCTION incidentdesk_base64url(value text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT rtrim(translate(encode(convert_to(value, 'UTF8'), 'base64'), E'+/\\n', '-_'), '=')
    $$
    """,
    """
    CREATE FUNCTION incidentdesk_global_id(type_name text, id uuid) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT incidentdesk_base64url(type_name || ':' || id::text)
    $$
    """,
    """
    CREATE FUNCTION incidentdesk_notify_access() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('incidentdesk_access', TG_TABLE_NAME);
      RETURN NULL;
    END
    $$
    """,
)


def upgrade() -> None:
    for statement in FUNCTIONS:
        op.execute(statement)
    for table in ACCESS_TABLES:
        op.execute(
            f"CREATE TRIGGER access_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION incidentdesk_notify_access()"
        )


def downgrade() -> None:
    for table in ACCESS_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS access_changed ON {table}")
    for name in (
        "incidentdesk_notify_access()",
        "incidentdesk_global_id(text, uuid)",
        "incidentdesk_base64url(text)",
        "incidentdesk_iso_time(timestamptz)",
        "incidentdesk_json_time(timestamptz)",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {name}")
