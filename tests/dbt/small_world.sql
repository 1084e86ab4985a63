-- A small hand-made world for trying the dbt project against a scratch database
-- (after `loyalty warehouse upgrade`). Replaces the rows of the raw and ledger tables.
-- Built with --vars '{run_date: 2026-06-01}' it yields:
--   dim_customers: 7 rows (customer 6 signed up after the run date); customer 1 has 4 completed orders,
--     gaps 20, 20, 103 days -> expected_interpurchase_days 20; customer 8's order of 2026-06-02 is invisible.
--   eligible_win_back: customers 7 (cycle 2026-03-01, 92 days > 90) and 8 (cycle 2026-02-01, 120 days).
--     Excluded: 3 no consent, 4 blank email, 1/2/5 ordered recently.
--   fct_sends: s1..s5 and s7 (s6 was selected after the run date); s1 and holdout s5 converted.
--   fct_journey_entries: one entry per ledger customer and cycle (win-back has one step); the entry of
--     customer 3 is after the run date.
--   metrics_workflow_variants (win_back, per entry): a 1/2 converted, b 0/1, holdout 1/2;
--     a: lift 0 [-0.573419, 0.573419]; b: lift -0.5 [-0.905469, 0.391049].
--   App events: customer 1's cart of 2026-05-20 went with their order o14 (2026-05-24); since then 3 Tea
--     added, 1 removed without a price (Tea's 8.00): open_cart_items 2, open_cart_value 16.00, updated
--     2026-05-31 10:06; views on 2026-05-30 and 2026-05-31 (Tea, food) count in product_views_30d (2), the one
--     of 2026-04-01 not, the cart change and view of 2026-06-02 are invisible. Customer 7 only opened a push:
--     0 views, no cart. Customer 2 answered the feedback request s7 (run date 2026-05-08, order o4) with a 9:
--     metrics_feedback_nps 1 survey, 1 response, NPS 100; metrics_nps_by_segment 1 respondent, NPS 100.
truncate raw.customers, raw.products, raw.orders, raw.order_lines, raw.message_events, loyalty.send_ledger,
    loyalty.journey_entries, raw.app_events;
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
 ('s6', 'win_back', 'email_1', 3, '2026-01-01', '2026-06-05', 'a', false, 'email', 'carol@example.com', 'pending'),
 ('s7', 'feedback_request', 'survey', 2, 'o4', '2026-05-08', 'one_question', false, 'email', 'bob@example.com', 'sent');
insert into loyalty.journey_entries (workflow_id, customer_id, cycle_key, entered_on, run_date, variant, is_holdout, context) values
 ('win_back', 1, '2026-02-10', '2026-05-10', '2026-05-10', 'a', false, '{}'),
 ('win_back', 7, '2026-03-01', '2026-05-10', '2026-05-10', 'a', false, '{}'),
 ('win_back', 8, '2026-02-01', '2026-05-10', '2026-05-10', 'b', false, '{}'),
 ('win_back', 2, '2026-05-01', '2026-05-10', '2026-05-10', 'holdout', true, '{}'),
 ('win_back', 5, '2024-01-01', '2026-05-10', '2026-05-10', 'holdout', true, '{}'),
 ('win_back', 3, '2026-01-01', '2026-06-05', '2026-06-05', 'a', false, '{}'),
 ('feedback_request', 2, 'o4', '2026-05-01', '2026-05-08', 'one_question', false, '{}');
insert into raw.message_events (event_id, provider, send_id, event_type, occurred_at, payload) values
 ('e1', 'sendgrid', 's1', 'delivered', '2026-05-10 13:00+00', '{}'),
 ('e2', 'sendgrid', 's1', 'open', '2026-05-10 14:00+00', '{}'),
 ('e3', 'sendgrid', 's1', 'open', '2026-05-11 14:00+00', '{}'),
 ('e4', 'sendgrid', 's1', 'click', '2026-05-11 14:01+00', '{}'),
 ('e5', 'sendgrid', 's2', 'delivered', '2026-05-10 13:00+00', '{}'),
 ('e6', 'sendgrid', 's2', 'open', '2026-06-03 13:00+00', '{}'),
 ('e7', 'sendgrid', null, 'processed', '2026-05-10 13:00+00', '{}');
insert into raw.app_events (event_id, customer_id, event_type, occurred_at, product_id, quantity, unit_price, score, order_id) values
 ('a1', 1, 'product_viewed', '2026-04-01 09:00+00', 10, null, null, null, null),
 ('a2', 1, 'added_to_cart', '2026-05-20 09:00+00', 10, 2, 12.50, null, null),
 ('a3', 1, 'product_viewed', '2026-05-30 09:00+00', 10, null, null, null, null),
 ('a4', 1, 'product_viewed', '2026-05-31 10:00+00', 11, null, null, null, null),
 ('a5', 1, 'added_to_cart', '2026-05-31 10:05+00', 11, 3, 8.00, null, null),
 ('a6', 1, 'removed_from_cart', '2026-05-31 10:06+00', 11, 1, null, null, null),
 ('a7', 1, 'added_to_cart', '2026-06-02 08:00+00', 10, 1, 12.50, null, null),
 ('a8', 1, 'product_viewed', '2026-06-02 08:00+00', 10, null, null, null, null),
 ('a9', 7, 'push_opened', '2026-05-15 12:00+00', null, null, null, null, null),
 ('a10', 2, 'nps_answered', '2026-05-10 18:00+00', null, null, null, 9, 'o4');
