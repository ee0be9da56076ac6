#!/bin/sh
# Run once by the postgres image when it creates the cluster: the application role, with a password so
# that the replicas can log in over the network. The first migration finds it and leaves it as it is;
# its attributes are the ones the migration would give it (no superuser, no BYPASSRLS: row-level
# security always applies to it).
set -eu
psql --variable ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --variable password="$INCIDENTDESK_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE incidentdesk_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD :'password';
SQL
