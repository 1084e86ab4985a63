-- The raw orders the Great Expectations raw suite validates (loaded after %(loaded_after)s, every row
-- when it is null), with the referential check computed here: does the customer exist?
select
    orders.*,
    exists(
        select 1
        from raw.customers as customers
        where customers.customer_id = orders.customer_id
    ) as has_known_customer
from raw.orders as orders
where %(loaded_after)s::timestamptz is null or orders.loaded_at > %(loaded_after)s::timestamptz
