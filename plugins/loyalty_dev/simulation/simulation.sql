-- The synthetic world's own tables: its plan of what happens when, and its ground truth.
-- Workflows never read schema sim; the world releases rows into raw as simulated days pass.

create schema if not exists sim;

create table if not exists sim.truth (
    workflow_id        text primary key,
    persuasion_rate    double precision not null,
    effect_window_days integer not null,
    description        text not null
);

create table if not exists sim.settings (
    key   text primary key,
    value text not null
);

create table if not exists sim.scheduled_customers (like raw.customers including defaults);
-- A world generated before raw.customers had push_token: appended last, as migration 0004 appends it to raw, so
-- the release's `insert into raw.customers select *` lines the columns up.
alter table sim.scheduled_customers add column if not exists push_token text;
alter table sim.scheduled_customers drop constraint if exists scheduled_customers_pkey;
create unique index if not exists scheduled_customers_id on sim.scheduled_customers (customer_id);

create table if not exists sim.scheduled_orders (like raw.orders including defaults);
create unique index if not exists scheduled_orders_id on sim.scheduled_orders (order_id);
create index if not exists scheduled_orders_at on sim.scheduled_orders (ordered_at);

create table if not exists sim.scheduled_order_lines (like raw.order_lines including defaults);
alter table sim.scheduled_order_lines add column if not exists ordered_at timestamptz;
create unique index if not exists scheduled_order_lines_id on sim.scheduled_order_lines (order_line_id);
create index if not exists scheduled_order_lines_at on sim.scheduled_order_lines (ordered_at);

-- Messages the world has already reacted to, so a reaction is decided once per message.
create table if not exists sim.reactions (
    message_key  text primary key,
    customer_id  bigint not null,
    workflow_id  text not null,
    delivered_on date not null,
    persuaded    boolean not null,
    order_id     text
);
-- counted: the message started an exposure episode (its persuasion was decided); false when it came
-- within the workflow's journey_days of an earlier counted message to the same customer.
alter table sim.reactions add column if not exists counted boolean not null default true;
alter table sim.truth add column if not exists journey_days integer not null default 0;
