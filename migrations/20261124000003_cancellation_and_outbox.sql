-- Cancellation bookkeeping and the outbox other services consume. Tables the original used
-- but never created (event_audit_log, event_cancellation_reports).

create table event_audit_log (
    tenant_id  uuid not null,
    id         uuid not null default gen_random_uuid(),
    event_id   uuid not null,
    action     varchar(50) not null,
    actor      varchar(100) not null,
    details    jsonb not null default '{}',
    created_at timestamptz not null default now(),

    constraint event_audit_log_pkey primary key (tenant_id, id),
    constraint event_audit_log_event_fkey foreign key (tenant_id, event_id)
        references events (tenant_id, id) on delete cascade
);

create index event_audit_log_event_idx on event_audit_log (tenant_id, event_id, created_at);

create table event_cancellation_reports (
    tenant_id        uuid not null,
    id               uuid not null default gen_random_uuid(),
    event_id         uuid not null,
    reason           text not null,
    refund_policy    varchar(20) not null,
    notify_customers boolean not null,
    cancelled_by     varchar(100) not null,
    holds_released   integer not null,
    seats_released   integer not null,
    sections_closed  integer not null,
    tickets_sold     integer not null,
    created_at       timestamptz not null default now(),

    constraint event_cancellation_reports_pkey primary key (tenant_id, id),
    constraint event_cancellation_reports_event_key unique (tenant_id, event_id),
    constraint event_cancellation_reports_event_fkey foreign key (tenant_id, event_id)
        references events (tenant_id, id) on delete cascade,
    constraint event_cancellation_reports_refund_policy_check check (refund_policy in ('full', 'partial', 'none'))
);

-- Downstream work (refunds, ticket invalidation, notifications) belongs to other services:
-- this service records what happened, in the same transaction, for them to consume.
create table event_outbox (
    tenant_id    uuid not null,
    id           uuid not null default gen_random_uuid(),
    event_id     uuid not null,
    topic        varchar(100) not null,
    payload      jsonb not null,
    status       varchar(20) not null default 'pending',
    created_at   timestamptz not null default now(),
    published_at timestamptz,

    constraint event_outbox_pkey primary key (tenant_id, id),
    constraint event_outbox_event_fkey foreign key (tenant_id, event_id)
        references events (tenant_id, id) on delete cascade,
    constraint event_outbox_status_check check (status in ('pending', 'published'))
);

create index event_outbox_pending_idx on event_outbox (created_at) where status = 'pending';

do $$
declare
    t text;
begin
    foreach t in array array['event_audit_log', 'event_cancellation_reports', 'event_outbox']
    loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        execute format(
            'create policy %I on %I as permissive for all to public '
            'using (tenant_id = nullif(current_setting(''app.current_tenant_id'', true), '''')::uuid) '
            'with check (tenant_id = nullif(current_setting(''app.current_tenant_id'', true), '''')::uuid)',
            t || '_tenant_isolation', t);
    end loop;
end
$$;

grant select, insert on event_audit_log, event_cancellation_reports to event_service_app;
grant select, insert, update on event_outbox to event_service_app;
