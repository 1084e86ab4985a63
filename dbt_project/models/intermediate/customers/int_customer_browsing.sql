-- One row per customer with an app event (any type) on or before the run date: their latest product
-- view and its product's category, product views in the 30 days ending on the run date, and their open
-- cart (int_open_carts; no cart, or an empty one, is 0 items and 0 value).

with

app_events as (

    select * from {{ ref('stg_shop__app_events') }}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

open_carts as (

    select * from {{ ref('int_open_carts') }}

),

events_as_of_run_date as (

    select
        event_id,
        customer_id,
        event_type,
        occurred_at,
        product_id,
        {{ dbt.datediff('occurred_date', loyalty.run_date(), 'day') }} as days_before_run_date

    from app_events
    where occurred_date <= {{ loyalty.run_date() }}

),

customer_events as (

    select
        customer_id,
        max(occurred_at) as last_app_event_at,
        max(case when event_type = 'product_viewed' then occurred_at end) as last_viewed_at,
        sum(case when event_type = 'product_viewed' and days_before_run_date < 30 then 1 else 0 end)
            as product_views_30d

    from events_as_of_run_date
    group by customer_id

),

product_views_ranked as (

    select
        customer_id,
        product_id,
        row_number() over (
            partition by customer_id
            order by occurred_at desc, event_id desc
        ) as view_recency_rank

    from events_as_of_run_date
    where event_type = 'product_viewed'

),

last_viewed_products as (

    select
        product_views_ranked.customer_id,
        product_views_ranked.product_id as last_viewed_product_id,
        products.product_category as last_viewed_category

    from product_views_ranked
    left join products
        on product_views_ranked.product_id = products.product_id
    where product_views_ranked.view_recency_rank = 1

),

final as (

    select
        cast(customer_events.customer_id as {{ dbt.type_bigint() }}) as customer_id,
        customer_events.last_app_event_at,
        customer_events.last_viewed_at,
        last_viewed_products.last_viewed_product_id,
        last_viewed_products.last_viewed_category,
        cast(customer_events.product_views_30d as {{ dbt.type_int() }}) as product_views_30d,
        coalesce(open_carts.open_cart_items, 0) as open_cart_items,
        coalesce(open_carts.open_cart_value, 0) as open_cart_value,
        open_carts.open_cart_updated_at

    from customer_events
    left join last_viewed_products
        on customer_events.customer_id = last_viewed_products.customer_id
    left join open_carts
        on customer_events.customer_id = open_carts.customer_id

)

select * from final
