-- A small hand-made world for trying the dbt project against a scratch database
-- (after plugins/loyalty/sql/schema.sql). Replaces the rows of the raw and ledger tables.
-- Built with --vars '{run_date: 2026-06-01}' it yields:
--   dim_customers: 7 rows (customer 6 signed up after the run date); customer 1 has 4 completed orders,
--     gaps 20, 20, 103 days -> expected_interpurchase_days 20; customer 8's order of 2026-06-02 is invisible.
--   eligible_win_back: customers 7 (cycle 2026-03-01, 92 days > 90) and 8 (cycle 2026-02-01, 120 days).
--     Excluded: 3 no consent, 4 blank email, 1/2/5 ordered recently.
--   fct_sends: s1..s5 (s6 was selected after the run date); s1 and holdout s5 converted.
--   fct_journey_entries: one entry per ledger customer and cycle (win-back has one step); the entry of
--     customer 3 is after the run date.
--   metrics_workflow_variants (win_back, per entry): a 1/2 converted, b 0/1, holdout 1/2;
--     a: lift 0 [-0.573419, 0.573419]; b: lift -0.5 [-0.905469, 0.391049].
truncate raw.customers, raw.products, raw.orders, raw.order_lines, raw.message_events, loyalty.send_ledger,
    loyalty.journey_entries;
insert into raw.customers (customer_id, email, first_name, locale, timezone, signup_at, email_consent) values
 (1, 'Alice@Example.com', 'Alice', 'en-US', 'America/New_York', '2025-12-01 10:00+00', true),
 (2, 'bob@example.com', 'Bob', 'en-GB', 'Europe/London', '2025-12-01 10:00+00', true),
 (3, 'carol@example.com', 'Carol', 'fr-FR', 'Europe/Paris', '2025-12-01 10:00+00', false),
 (4, '   ', 'Dan', 'en-US', 'America/Chicago', '2025-12-01 10:00+00', true),
 (5, 'erin@example.com', 'Erin', 'de-DE', 'Europe/Berlin', '2023-12-01 10:00+00', true),
 (6, 'frank@example.com', 'Frank', 'en-US', 'America/Denver', '2026-06-15 10:00+00', true),
 (7, 'gina@example.com', 'Gina', 'es-ES', 'Europe/Madrid', '2025-12-01 10:00+00', true),
 (8, 'hank@example.com', 'Hank', 'en-US', 'America/New_York', '2025-12-01 10:00+00', true);
insert into raw.products values (10, 'Mug', 'kitchen', 12.50, now()), (11, 'Tea', 'food', 8.00, now());
insert into raw.orders (order_id, customer_id, ordered_at, status, order_total) values
 ('o1', 1, '2026-01-01 12:00+00', 'completed', 25.00),
 ('o2', 1, '2026-01-21 12:00+00', 'completed', 12.50),
 ('o3', 1, '2026-02-10 23:30+00', 'completed', 16.00),
 ('o4', 2, '2026-05-01 12:00+00', 'completed', 8.00),
 ('o5', 3, '2026-01-01 12:00+00', 'completed', 8.00),
 ('o6', 4, '2026-01-01 12:00+00', 'completed', 8.00),
 ('o7', 5, '2024-01-01 12:00+00', 'completed', 8.00),
 ('o8', 6, '2026-06-20 12:00+00', 'completed', 8.00),
 ('o9', 7, '2026-03-01 12:00+00', 'completed', 40.00),
 ('o10', 7, '2026-03-05 12:00+00', 'cancelled', 40.00),
 ('o11', 8, '2026-02-01 12:00+00', 'completed', 20.00),
 ('o12', 8, '2026-06-02 12:00+00', 'completed', 20.00),
 ('o13', 5, '2026-05-20 12:00+00', 'completed', 30.00),
 ('o14', 1, '2026-05-24 12:00+00', 'completed', 9.00);
insert into raw.order_lines values
 ('l1', 'o1', 10, 2, 12.50, now()), ('l2', 'o2', 10, 1, 12.50, now()), ('l3', 'o3', 11, 2, 8.00, now());
insert into loyalty.send_ledger (send_id, workflow_id, step_id, customer_id, cycle_key, run_date, variant, is_holdout, channel, recipient, status) values
 ('s1', 'win_back', 'email_1', 1, '2026-02-10', '2026-05-10', 'a', false, 'email', 'alice@example.com', 'sent'),
 ('s2', 'win_back', 'email_1', 7, '2026-03-01', '2026-05-10', 'a', false, 'email', 'gina@example.com', 'sent'),
 ('s3', 'win_back', 'email_1', 8, '2026-02-01', '2026-05-10', 'b', false, 'email', 'hank@example.com', 'failed'),
 ('s4', 'win_back', 'email_1', 2, '2026-05-01', '2026-05-10', 'a', true, 'email', null, 'holdout'),
 ('s5', 'win_back', 'email_1', 5, '2024-01-01', '2026-05-10', 'holdout', true, 'email', null, 'holdout'),
 ('s6', 'win_back', 'email_1', 3, '2026-01-01', '2026-06-05', 'a', false, 'email', 'carol@example.com', 'pending');
insert into loyalty.journey_entries (workflow_id, customer_id, cycle_key, entered_on, run_date, variant, is_holdout, context) values
 ('win_back', 1, '2026-02-10', '2026-05-10', '2026-05-10', 'a', false, '{}'),
 ('win_back', 7, '2026-03-01', '2026-05-10', '2026-05-10', 'a', false, '{}'),
 ('win_back', 8, '2026-02-01', '2026-05-10', '2026-05-10', 'b', false, '{}'),
 ('win_back', 2, '2026-05-01', '2026-05-10', '2026-05-10', 'holdout', true, '{}'),
 ('win_back', 5, '2024-01-01', '2026-05-10', '2026-05-10', 'holdout', true, '{}'),
 ('win_back', 3, '2026-01-01', '2026-06-05', '2026-06-05', 'a', false, '{}');
insert into raw.message_events (event_id, provider, send_id, event_type, occurred_at, payload) values
 ('e1', 'sendgrid', 's1', 'delivered', '2026-05-10 13:00+00', '{}'),
 ('e2', 'sendgrid', 's1', 'open', '2026-05-10 14:00+00', '{}'),
 ('e3', 'sendgrid', 's1', 'open', '2026-05-11 14:00+00', '{}'),
 ('e4', 'sendgrid', 's1', 'click', '2026-05-11 14:01+00', '{}'),
 ('e5', 'sendgrid', 's2', 'delivered', '2026-05-10 13:00+00', '{}'),
 ('e6', 'sendgrid', 's2', 'open', '2026-06-03 13:00+00', '{}'),
 ('e7', 'sendgrid', null, 'processed', '2026-05-10 13:00+00', '{}');
