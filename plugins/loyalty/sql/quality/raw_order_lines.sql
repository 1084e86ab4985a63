-- The raw order lines the Great Expectations raw suite validates (loaded after %(loaded_after)s, every
-- row when it is null), with the referential checks computed here: do the order and product exist?
select
    order_lines.*,
    exists(
        select 1
        from raw.orders as orders
        where orders.order_id = order_lines.order_id
    ) as has_known_order,
    exists(
        select 1
        from raw.products as products
        where products.product_id = order_lines.product_id
    ) as has_known_product
from raw.order_lines as order_lines
where %(loaded_after)s::timestamptz is null or order_lines.loaded_at > %(loaded_after)s::timestamptz
