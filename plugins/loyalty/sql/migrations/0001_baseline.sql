-- Revision 0001, the baseline: the tables the loyalty application owns as they stood on 2026-12-07 before
-- deferral, channel fallback and push tokens (schema.sql of commit bc136a7, unchanged). dbt reads them as
-- sources; it never writes them.
-- Idempotent (create ... if not exists, add column if not exists, guarded drops), as schema.sql was: a
-- warehouse made by any earlier schema.sql, which has no version table, converges by running it again.
-- Never edit a released revision: a change is a new one (docs/architecture.md, "Migrations").

create schema if not exists raw;
create schema if not exists loyalty;

-- ---------------------------------------------------------------- raw: what the retailer's systems deliver
create table if not exists raw.customers (
    customer_id   bigint primary key,
    email         text,
    phone         text,
    first_name    text,
    locale        text,
    timezone      text,
    birthday      date,
    signup_at     timestamptz not null,
    email_consent boolean not null default false,
    sms_consent   boolean not null default false,
    push_consent  boolean not null default false,
    loaded_at     timestamptz not null default now()
);

create table if not exists raw.products (
    product_id   bigint primary key,
    product_name text not null,
    category     text not null,
    unit_price   numeric(12, 2) not null,
    loaded_at    timestamptz not null default now()
);

create table if not exists raw.orders (
    order_id    text primary key,
    customer_id bigint not null,
    ordered_at  timestamptz not null,
    status      text not null,
    order_total numeric(12, 2) not null,
    loaded_at   timestamptz not null default now()
);

create table if not exists raw.order_lines (
    order_line_id text primary key,
    order_id      text not null,
    product_id    bigint not null,
    quantity      integer not null,
    unit_price    numeric(12, 2) not null,
    loaded_at     timestamptz not null default now()
);

-- Loads append in loaded_at order: a BRIN index (a few bytes per block range, next to nothing per
-- loaded row) lets the daily dbt build read only the late-arriving window of each table (its
-- contract models and windowed data tests) instead of every row ever loaded.
create index if not exists customers_loaded_at on raw.customers using brin (loaded_at) with (autosummarize = on);
create index if not exists orders_loaded_at on raw.orders using brin (loaded_at) with (autosummarize = on);
create index if not exists order_lines_loaded_at on raw.order_lines using brin (loaded_at) with (autosummarize = on);

-- App and site behaviour (the shop's tracking: product views, cart changes, push opens, survey answers),
-- one row per event id: the receiver's POST /events/app and `loyalty load` both write here, and the
-- same event again is a no-op. Typed columns, not a payload: the cart and NPS features read them.
-- event_type: product_viewed | added_to_cart | removed_from_cart | cart_abandoned | push_opened |
-- nps_answered | csat_answered.
create table if not exists raw.app_events (
    event_id    text primary key,
    customer_id bigint not null,
    event_type  text not null,  -- one of loyalty.loader.entities.APP_EVENT_TYPES (product_viewed, ...)
    occurred_at timestamptz not null,
    product_id  bigint,
    quantity    integer,
    unit_price  numeric(12, 2),
    score       integer,  -- nps_answered 0..10, csat_answered 1..5
    order_id    text,  -- the order a survey answer or a cart_abandoned is about, when known
    loaded_at   timestamptz not null default now()
);
create index if not exists app_events_customer on raw.app_events (customer_id, occurred_at);
create index if not exists app_events_loaded_at on raw.app_events using brin (loaded_at) with (autosummarize = on);

-- Provider webhook events, one row per provider event id (retries from providers are no-ops).
create table if not exists raw.message_events (
    event_id            text primary key,
    provider            text not null,
    send_id             text,
    provider_message_id text,
    event_type          text not null,
    occurred_at         timestamptz not null,
    payload             jsonb not null,
    received_at         timestamptz not null default now()
);
create index if not exists message_events_send_id on raw.message_events (send_id);

-- Rows that broke a load contract: never dropped silently.
create table if not exists raw.quarantine (
    quarantine_id  bigserial primary key,
    source_table   text not null,
    rule           text not null,
    row_data       jsonb not null,
    quarantined_at timestamptz not null default now()
);

-- ---------------------------------------------------------------- loyalty: the send ledger, the heart
-- One row per (workflow, step, customer, cycle), written before any provider request.
-- status: holdout | pending | sending | sent | failed | suppressed | unknown
create table if not exists loyalty.send_ledger (
    send_id             text primary key,
    workflow_id         text not null,
    step_id             text not null,
    customer_id         bigint not null,
    cycle_key           text not null,
    run_date            date not null,
    variant             text not null,
    is_holdout          boolean not null,
    channel             text not null,
    recipient           text,
    context             jsonb,  -- null for new rows: the audience row lives once, in loyalty.journey_entries
    status              text not null,
    status_reason       text,
    batch_id            text,
    attempts            integer not null default 0,
    provider_message_id text,
    provider_response   jsonb,
    created_at          timestamptz not null default now(),
    sent_at             timestamptz,
    updated_at          timestamptz not null default now(),
    constraint send_ledger_one_per_cycle unique (workflow_id, step_id, customer_id, cycle_key),
    constraint send_ledger_status check (
        status in ('holdout', 'pending', 'sending', 'sent', 'failed', 'suppressed', 'unknown')
    )
);
create index if not exists send_ledger_batch on loyalty.send_ledger (batch_id) where batch_id is not null;
-- Open rows of a workflow (batch assignment, the audience gate, crash reconciliation): partial, so
-- recording an outcome (sending -> sent | failed) and holdout / suppressed rows add no entry. It
-- replaces a (workflow_id, status) index over every row (dropped where it exists).
drop index if exists loyalty.send_ledger_workflow_status;
create index if not exists send_ledger_workflow_open on loyalty.send_ledger (workflow_id, status)
where status in ('pending', 'sending');

-- ---------------------------------------------------------------- loyalty: journeys and run summaries
-- One row per customer per journey cycle: who entered when, in which arm. Every step of the
-- journey is planned from here and from the ledger; holdout is decided once, at entry.
create table if not exists loyalty.journey_entries (
    workflow_id text not null,
    customer_id bigint not null,
    cycle_key   text not null,
    entered_on  date not null,
    run_date    date not null,
    variant     text not null,
    is_holdout  boolean not null,
    context     jsonb not null,
    created_at  timestamptz not null default now(),
    primary key (workflow_id, customer_id, cycle_key)
);
-- Besides the key (the re-entry check looks each customer up by its (workflow_id, customer_id)
-- prefix), one BRIN index: entries are appended in run-date order, so a few bytes per block range let
-- the daily plan read only the entries it has not planned yet (loyalty.completed_plans) instead of
-- the workflow's whole history, at almost no cost per entered customer. A B-tree on
-- (workflow_id, entered_on) cost a write per entry (dropped where it exists).
drop index if exists loyalty.journey_entries_entered;
create index if not exists journey_entries_recent on loyalty.journey_entries using brin (run_date, entered_on)
with (autosummarize = on);  -- a filled block range is summarised at once, not at the next vacuum

-- One row per workflow and run date whose plan committed (written in the plan's own transaction, so
-- a dry run or a failed plan leaves none). The next plan's first step reads only the entries entered
-- or due since the latest earlier one; without one it reads them all.
create table if not exists loyalty.completed_plans (
    workflow_id  text not null,
    run_date     date not null,
    completed_at timestamptz not null default now(),
    primary key (workflow_id, run_date)
);

-- What each DAG run did, per step: the data team's audit trail (also in the task log).
create table if not exists loyalty.workflow_runs (
    workflow_id text not null,
    run_date    date not null,
    run_id      text not null,
    step_id     text not null,
    dry_run     boolean not null,
    entered     integer not null default 0,
    planned     integer not null default 0,
    held_out    integer not null default 0,
    suppressed  jsonb not null default '{}'::jsonb,
    sent        integer not null default 0,
    failed      integer not null default 0,
    unknown     integer not null default 0,
    recorded_at timestamptz not null default now(),
    primary key (workflow_id, run_date, run_id, step_id)
);

-- ---------------------------------------------------------------- loyalty: contactability (the webhook receiver)
-- The latest consent state per channel and address, changed the moment provider feedback arrives:
-- SMS keywords (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, PARAR, SAIR → false; START, YES,
-- UNSTOP → true), email unsubscribes, spam reports and hard bounces, RFC 8058 one-click
-- unsubscribes, permanent SMS errors. One row per (channel, address); the event that set it is
-- raw.message_events.event_id = source_event_id. An older event never overwrites a newer one.
create table if not exists loyalty.contactability (
    channel         text not null,
    address         text not null,
    customer_id     bigint,
    is_contactable  boolean not null,
    reason          text not null,
    source_event_id text not null,
    changed_at      timestamptz not null,
    updated_at      timestamptz not null default now(),
    primary key (channel, address),
    constraint contactability_channel check (channel in ('email', 'sms', 'push'))
);
create index if not exists contactability_customer on loyalty.contactability (customer_id)
where customer_id is not null;
-- Twilio status callbacks that carry no send id are joined back through the message SID.
create index if not exists send_ledger_provider_message_id on loyalty.send_ledger (provider_message_id)
where provider_message_id is not null;

-- ---------------------------------------------------------------- loyalty: contact policies and crash safety (ledger)
-- not_before: quiet hours deferred the row (it stays pending and is sent once this has passed).
-- priority: the workflow's policies.priority when planned (workflows competing for a customer's day).
-- is_global_holdout: the entry fell in the global holdout shared by every workflow.
alter table loyalty.send_ledger add column if not exists not_before timestamptz;
alter table loyalty.send_ledger add column if not exists priority smallint;
alter table loyalty.journey_entries add column if not exists is_global_holdout boolean not null default false;
-- Frequency cap and priority look up a customer's messages around a run date.
create index if not exists send_ledger_customer_run_date on loyalty.send_ledger (customer_id, run_date);
-- Crash reconciliation finds rows left in `sending`.
create index if not exists send_ledger_sending on loyalty.send_ledger (workflow_id, updated_at) where status = 'sending';
-- A daily plan's later steps read only parent rows due or sent since the previous completed plan:
-- rows are appended by run date and rewritten when their status changes, so block ranges track both.
create index if not exists send_ledger_recent on loyalty.send_ledger using brin (run_date, updated_at)
with (autosummarize = on);

-- ---------------------------------------------------------------- raw: data quality results (loyalty.quality, Great Expectations)
-- One row per expectation per validation run; rows of raw tables that broke an expectation go to
-- raw.quarantine with rule 'expectation:<expectation type>:<column>'.
create table if not exists raw.quality_results (
    result_id        bigserial primary key,
    validated_at     timestamptz not null default now(),
    run_date         date,
    suite_name       text not null,
    expectation_type text not null,
    column_name      text,
    is_success       boolean not null,
    element_count    bigint,
    unexpected_count bigint,
    details          jsonb not null default '{}'::jsonb
);

-- What each run date's raw check read, per suite: the next run date's check reads only rows loaded
-- after the latest `loaded_through` before it (less a margin for loads still in flight), so a daily
-- check costs the day's loads, not the table's size. A rerun of a run date reads the same window.
create table if not exists raw.quality_checked_loads (
    suite_name     text not null,
    run_date       date not null,
    loaded_through timestamptz,
    rows_checked   bigint not null,
    checked_at     timestamptz not null default now(),
    primary key (suite_name, run_date)
);
-- The quarantined row's own loaded_at, exactly: a rerun replaces the raw check's quarantine rows of
-- the window it reads, and only those.
alter table raw.quarantine add column if not exists source_loaded_at timestamptz;

-- ---------------------------------------------------------------- raw: bring your own data (loyalty.loader, `loyalty load`)
-- A row `loyalty load` rejected: where it came from (file or source label, line or row number, the source
-- column) and the load that read it. Null for the rows other checks quarantine.
alter table raw.quarantine add column if not exists source_file text;
alter table raw.quarantine add column if not exists source_line bigint;
alter table raw.quarantine add column if not exists source_column text;
alter table raw.quarantine add column if not exists load_id text;

-- One row per loaded source content (sha256 of the file, or of a database source's COPY output), written in the
-- same transaction as its rows: the same content again is a no-op, a crash leaves the rows and this row or neither.
create table if not exists raw.loaded_files (
    entity           text not null,
    sha256           text not null,
    source_name      text not null,
    load_id          text not null,
    rows_read        bigint not null,
    rows_loaded      bigint not null,
    rows_unchanged   bigint not null,
    rows_quarantined bigint not null,
    loaded_at        timestamptz not null default now(),
    primary key (entity, sha256)
);
