-- The raw order lines the Great Expectations raw suite validates (loaded after %(loaded_after)s, every
-- row when it is null), with the referential checks computed here: do the order and product exist?
select
    lines.*,
    exists (
        select 1
        from raw.orders as orders
        where orders.order_id = lines.order_id
    ) as has_known_order,
    exists (
        select 1
        from raw.products as products
        where products.product_id = lines.product_id
    ) as has_known_product
from raw.order_lines as lines
where %(loaded_after)s::timestamptz is null or lines.loaded_at > %(loaded_after)s::timestamptz
