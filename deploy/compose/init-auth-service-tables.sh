#!/usr/bin/env bash
# Postgres container init script, after init-roles.sh: auth-service's tenants and
# invalidated_tokens tables (deploy/platform/auth-service-tables.sql), which event-service reads
# for tenant status and revoked tokens, with the two demo tenants active. In the platform
# auth-service creates and owns these tables in the shared database; this local stack has no
# auth-service, so the stand-in is created here, as the superuser, as auth-service would.
# Sourced or executed by the image: no `exit`, no `set -u`.
set -eo pipefail
: "${EVENT_SERVICE_DB:=tickettoken_events}"
echo "init-auth-service-tables: auth-service's tenants and invalidated_tokens in ${EVENT_SERVICE_DB}"
psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "$EVENT_SERVICE_DB" \
  -v app_role=event_service -f /docker-entrypoint-initdb.d/auth-service-tables.sql.in
psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "$EVENT_SERVICE_DB" <<'SQL'
insert into tenants (id, name, slug, status) values
    ('00000000-0000-4000-8000-000000000001', 'Demo tenant', 'demo', 'active'),
    ('00000000-0000-4000-8000-000000000002', 'Other demo tenant', 'demo-2', 'active')
on conflict (id) do nothing;
SQL
