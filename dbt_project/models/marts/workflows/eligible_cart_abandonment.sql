-- One row per customer whose cart is abandoned right now: products added since their latest order
-- (an order, whatever its status, is the checkout that empties the cart), still in the cart, and the
-- cart untouched for `cart_abandoned_after_minutes` (or the shop reported `cart_abandoned`), but
-- changed within `cart_abandonment_max_hours` (older carts are not chased). Reachable on some channel
-- by the latest customer features (dim_customers' newest run date).
--
-- A view, read as of now() and not as of a run date: the hourly cart_abandonment DAG reads the app's
-- events as they arrived in the last hour, without waiting for the daily build. Its run_date is today's
-- UTC date, the date an hourly run plans for; the cycle is the cart (the first event since the last
-- order), so a cart gets one message however many hourly runs see it.

{{ config(materialized='view') }}

{% set now = dbt.current_timestamp() %}
{% set chase_since = dbt.dateadd('hour', -var('cart_abandonment_max_hours'), now) %}
{% set idle_since = dbt.dateadd('minute', -var('cart_abandoned_after_minutes'), now) %}

with

app_events as (

    select * from {{ ref('stg_shop__app_events') }}

),

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

customer_features as (

    select * from {{ ref('dim_customers') }}
    where run_date = (select max(features.run_date) from {{ ref('dim_customers') }} as features)

),

checkouts as (

    select
        orders.customer_id,
        max(orders.ordered_at) as last_ordered_at

    from orders
    group by orders.customer_id

),

-- Customers with cart activity recent enough to chase: the index on (customer_id, occurred_at) then
-- reads only their events.
recent_cart_customers as (

    select distinct app_events.customer_id

    from app_events
    where
        app_events.event_type in ('added_to_cart', 'removed_from_cart', 'cart_abandoned')
        and app_events.occurred_at > {{ chase_since }}
        and app_events.occurred_at <= {{ now }}

),

open_cart_events as (

    select
        app_events.customer_id,
        app_events.event_id,
        app_events.event_type,
        app_events.occurred_at,
        app_events.product_id,
        case app_events.event_type
            when 'added_to_cart' then 1
            when 'removed_from_cart' then -1
            else 0
        end as cart_sign,
        app_events.quantity,
        coalesce(app_events.line_value, app_events.quantity * products.unit_price) as event_value,
        row_number() over (
            partition by app_events.customer_id
            order by app_events.occurred_at, app_events.event_id
        ) as position_in_cart,
        row_number() over (
            partition by app_events.customer_id, app_events.event_type
            order by app_events.occurred_at desc, app_events.event_id desc
        ) as recency_in_type

    from app_events
    inner join recent_cart_customers
        on app_events.customer_id = recent_cart_customers.customer_id
    left join checkouts
        on app_events.customer_id = checkouts.customer_id
    left join products
        on app_events.product_id = products.product_id
    where
        app_events.event_type in ('added_to_cart', 'removed_from_cart', 'cart_abandoned')
        and app_events.occurred_at <= {{ now }}
        and (checkouts.last_ordered_at is null or app_events.occurred_at > checkouts.last_ordered_at)

),

carts as (

    select
        open_cart_events.customer_id,
        max(case when open_cart_events.position_in_cart = 1 then open_cart_events.event_id end) as cart_id,
        min(open_cart_events.occurred_at) as cart_started_at,
        max(case when open_cart_events.cart_sign <> 0 then open_cart_events.occurred_at end) as cart_updated_at,
        max(case when open_cart_events.cart_sign = 0 then open_cart_events.occurred_at end) as abandonment_reported_at,
        coalesce(sum(open_cart_events.cart_sign * open_cart_events.quantity), 0) as open_cart_items,
        coalesce(sum(open_cart_events.cart_sign * open_cart_events.event_value), 0) as open_cart_value,
        max(
            case
                when open_cart_events.cart_sign = 1 and open_cart_events.recency_in_type = 1
                    then open_cart_events.product_id
            end
        ) as last_added_product_id

    from open_cart_events
    group by open_cart_events.customer_id

),

abandoned_carts as (

    select
        carts.*,
        coalesce(
            carts.abandonment_reported_at,
            {{ dbt.dateadd('minute', var('cart_abandoned_after_minutes'), 'carts.cart_updated_at') }}
        ) as abandoned_at

    from carts
    where
        carts.open_cart_items > 0
        and carts.cart_updated_at > {{ chase_since }}
        and (
            carts.abandonment_reported_at >= carts.cart_updated_at
            or carts.cart_updated_at <= {{ idle_since }}
        )

),

final as (

    select
        customer_features.customer_id,
        {{ loyalty.utc_date(now) }} as run_date,
        cast(abandoned_carts.cart_id as {{ dbt.type_string() | lower }}) as cycle_key,
        {{ contact_columns('customer_features') }},
        abandoned_carts.cart_started_at,
        abandoned_carts.abandoned_at,
        cast(abandoned_carts.open_cart_items as integer) as open_cart_items,
        cast(abandoned_carts.open_cart_value as numeric(12, 2)) as open_cart_value,
        last_added_products.product_name as last_added_product_name,
        last_added_products.product_category as last_added_product_category

    from abandoned_carts
    inner join customer_features
        on abandoned_carts.customer_id = customer_features.customer_id
    left join products as last_added_products
        on abandoned_carts.last_added_product_id = last_added_products.product_id
    where
        customer_features.is_email_contactable
        or customer_features.is_sms_contactable
        or customer_features.is_push_contactable

)

select * from final
