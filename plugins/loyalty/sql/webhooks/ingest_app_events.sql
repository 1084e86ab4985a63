-- One checked batch of the shop's app and site events (POST /events/app) into raw.app_events, once per
-- event id: a resent or duplicated event is a no-op (the sender's retries are safe). Events of customers
-- raw.customers does not know yet are stored too: the customer file may arrive in the next load.
-- Parameters: one array per column, all the same length, element i of each being event i
-- (loyalty.webhooks.app_events checked them): %(event_ids)s, %(customer_ids)s, %(event_types)s,
-- %(occurred_ats)s, %(product_ids)s, %(quantities)s, %(unit_prices)s, %(scores)s, %(order_ids)s.
-- Returns one row: the number of events newly stored.
with

inserted as (

    insert into raw.app_events (
        event_id, customer_id, event_type, occurred_at, product_id, quantity, unit_price, score, order_id
    )
    select
        batch.event_id,
        batch.customer_id,
        batch.event_type,
        batch.occurred_at,
        batch.product_id,
        batch.quantity,
        batch.unit_price,
        batch.score,
        batch.order_id
    from unnest(
            %(event_ids)s::text[],
            %(customer_ids)s::bigint[],
            %(event_types)s::text[],
            %(occurred_ats)s::timestamptz[],
            %(product_ids)s::bigint[],
            %(quantities)s::integer[],
            %(unit_prices)s::numeric[],
            %(scores)s::integer[],
            %(order_ids)s::text[]
        ) as batch (event_id, customer_id, event_type, occurred_at, product_id, quantity, unit_price, score, order_id)
    on conflict (event_id) do nothing
    returning event_id

)

select count(*) as stored_events
from inserted
