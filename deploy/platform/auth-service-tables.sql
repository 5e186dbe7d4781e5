-- auth-service's two tables that event-service reads, exactly as auth-service's baseline
-- migration creates them (backend/services/auth-service/src/migrations/001_auth_baseline.ts,
-- reference/platform-contracts.md §3.1-3.2). In the platform they already exist in the shared
-- database (tickettoken_db), created by auth-service. Local stacks without an auth-service
-- (scripts/dev, scripts/test, the compose file) create this stand-in as the superuser, as
-- auth-service would, before event-service starts.
--
-- The one deviation: `invalidated_tokens.user_id` references auth-service's `users`, which the
-- stand-in does not have; the column stays NOT NULL without the foreign key.
--
-- Idempotent. psql variable :app_role names the role event-service connects as; it gets
-- SELECT on these two tables and nothing else (see docs/platform.md).

set client_min_messages = warning;

create extension if not exists "uuid-ossp";

create table if not exists tenants (
    id         uuid primary key default uuid_generate_v4(),
    name       varchar(255) not null,
    slug       varchar(255) not null unique,
    status     varchar(255) default 'active',
    settings   jsonb default '{}',
    created_at timestamptz default now(),
    updated_at timestamptz default now()
);

insert into tenants (id, name, slug) values ('00000000-0000-0000-0000-000000000001', 'Default Tenant', 'default')
    on conflict do nothing;

create table if not exists invalidated_tokens (
    token          text primary key,
    tenant_id      uuid not null references tenants (id) on delete restrict,
    user_id        uuid not null,
    invalidated_at timestamptz default now(),
    expires_at     timestamptz not null
);
create index if not exists idx_invalidated_tokens_tenant_id on invalidated_tokens (tenant_id);
create index if not exists idx_invalidated_tokens_user_id on invalidated_tokens (user_id);
create index if not exists idx_invalidated_tokens_expires_at on invalidated_tokens (expires_at);

alter table invalidated_tokens enable row level security;
alter table invalidated_tokens force row level security;
drop policy if exists invalidated_tokens_tenant_isolation on invalidated_tokens;
create policy invalidated_tokens_tenant_isolation on invalidated_tokens for all
    using (tenant_id = current_setting('app.current_tenant_id', true)::uuid)
    with check (tenant_id = current_setting('app.current_tenant_id', true)::uuid);

grant select on tenants, invalidated_tokens to :"app_role";
