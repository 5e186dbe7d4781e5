#!/usr/bin/env bash
# Postgres container init script (mounted into /docker-entrypoint-initdb.d by docker-compose.yml).
# The postgres image runs it once, as the superuser, when the data volume is empty. It does what
# bootstrap_database in scripts/lib/stack.sh does for scripts/dev:
#   * event_service_owner: LOGIN CREATEROLE; owns the database and runs `event-service migrate`;
#   * event_service: LOGIN NOSUPERUSER NOBYPASSRLS; the application role, owns nothing (row-level
#     security does not apply to a table's owner); migrate grants it event_service_app;
#   * the database, owned by event_service_owner (on Postgres 15 only the owner may create in
#     its public schema).
# Idempotent all the same. Passwords come from the compose environment (dev defaults there);
# they are passed as psql variables and quoted by format(%L), never spliced into SQL by the shell.
#
# Written to work whether the image executes it or sources it (it does the latter when the
# file is not executable): no `exit`, no `set -u`.
set -eo pipefail

: "${EVENT_SERVICE_DB:=tickettoken_events}"
: "${EVENT_SERVICE_OWNER_PASSWORD:?is not set (docker-compose.yml passes a dev default)}"
: "${EVENT_SERVICE_APP_PASSWORD:?is not set (docker-compose.yml passes a dev default)}"

echo "init-roles: creating roles event_service_owner, event_service and database ${EVENT_SERVICE_DB}"

# No semicolons before \gexec: it runs the query in the buffer and then each row it returns.
psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v owner_password="$EVENT_SERVICE_OWNER_PASSWORD" \
  -v app_password="$EVENT_SERVICE_APP_PASSWORD" \
  -v db_name="$EVENT_SERVICE_DB" <<'SQL'
select format('create role event_service_owner login createrole password %L', :'owner_password')
 where not exists (select 1 from pg_roles where rolname = 'event_service_owner')
\gexec

select format('create role event_service login nosuperuser nobypassrls nocreatedb nocreaterole password %L',
              :'app_password')
 where not exists (select 1 from pg_roles where rolname = 'event_service')
\gexec

select format('create database %I owner event_service_owner', :'db_name')
 where not exists (select 1 from pg_database where datname = :'db_name')
\gexec
SQL
