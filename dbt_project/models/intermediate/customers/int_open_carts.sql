-- One row per customer with a non-empty cart on the run date: what the app's cart changes (added_to_cart,
-- removed_from_cart on or before the run date) leave in it since the customer's latest completed order at
-- or before the run date — a checkout empties the cart. Netted per product: a line's units are its added
-- minus removed units, its value their values (quantity × the change's unit price, else the product's
-- price), both floored at zero. Reusable as the cart-abandonment audience's input.

with

app_events as (

    select * from {{ ref('stg_shop__app_events') }}

),

orders as (

    select * from {{ ref('int_orders_as_of_run_date') }}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

cart_events as (

    select
        customer_id,
        event_type,
        occurred_at,
        product_id,
        quantity,
        unit_price

    from app_events
    where
        event_type in ('added_to_cart', 'removed_from_cart')
        and occurred_date <= {{ loyalty.run_date() }}

),

-- The latest checkout of the customers with a cart change only: without app events nothing is read.
latest_checkouts as (

    select
        orders.customer_id,
        max(orders.ordered_at) as last_checkout_at

    from orders
    where
        orders.is_completed
        and orders.customer_id in (select cart_events.customer_id from cart_events)
    group by orders.customer_id

),

-- Each change priced at its own unit price, else the product's price.
cart_events_since_checkout as (

    select
        cart_events.customer_id,
        cart_events.product_id,
        products.product_name,
        cart_events.occurred_at,
        latest_checkouts.last_checkout_at,
        case when cart_events.event_type = 'added_to_cart' then 1 else -1 end * cart_events.quantity as units_change,
        case when cart_events.event_type = 'added_to_cart' then 1 else -1 end
        * cart_events.quantity * coalesce(cart_events.unit_price, products.unit_price) as value_change

    from cart_events
    left join latest_checkouts
        on cart_events.customer_id = latest_checkouts.customer_id
    left join products
        on cart_events.product_id = products.product_id
    where
        latest_checkouts.last_checkout_at is null
        or cart_events.occurred_at > latest_checkouts.last_checkout_at

),

-- Per product: units and value left, floored at zero (removing more than was added since the checkout
-- empties the line and takes nothing off the others).
cart_lines as (

    select
        customer_id,
        product_id,
        max(product_name) as product_name,
        max(last_checkout_at) as last_checkout_at,
        min(occurred_at) as first_changed_at,
        max(occurred_at) as last_changed_at,
        case when sum(units_change) > 0 then sum(units_change) else 0 end as units,
        case when sum(units_change) > 0 then greatest(coalesce(sum(value_change), 0), 0) else 0 end as line_value

    from cart_events_since_checkout
    group by customer_id, product_id

),

-- The most valuable line of each cart (ties: more units, then product id).
top_cart_lines as (

    select
        customer_id,
        product_id,
        product_name,
        row_number() over (
            partition by customer_id
            order by line_value desc, units desc, product_id asc
        ) as line_value_rank

    from cart_lines
    where units > 0

),

carts as (

    select
        customer_id,
        max(last_checkout_at) as last_checkout_at,
        min(first_changed_at) as open_cart_started_at,
        max(last_changed_at) as open_cart_updated_at,
        sum(case when units > 0 then 1 else 0 end) as open_cart_products,
        sum(units) as open_cart_items,
        sum(line_value) as open_cart_value

    from cart_lines
    group by customer_id

),

open_carts as (

    select
        carts.*,
        top_cart_lines.product_id as top_product_id,
        top_cart_lines.product_name as top_product_name

    from carts
    inner join top_cart_lines
        on
            carts.customer_id = top_cart_lines.customer_id
            and top_cart_lines.line_value_rank = 1

),

final as (

    select
        cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
        last_checkout_at,
        open_cart_started_at,
        open_cart_updated_at,
        cast(open_cart_products as {{ dbt.type_int() }}) as open_cart_products,
        cast(open_cart_items as {{ dbt.type_int() }}) as open_cart_items,
        round(cast(open_cart_value as {{ dbt.type_numeric() }}), 2) as open_cart_value,
        top_product_id,
        top_product_name

    from open_carts

)

select * from final
