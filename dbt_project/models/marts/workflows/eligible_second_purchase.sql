-- One row per one-order customer whose first order was between
-- `second_purchase_min_days_since_first_order` and `..._max_...` days before the run date, reachable
-- on some channel: the first-to-second purchase nudge, with a recommendation when the affinities have one.
-- One nudge per customer (cycle: the first order's date).

with

customers as (

    select * from {{ ref('int_customers_reachable') }}

),

recommendations as (

    select * from {{ ref('int_customer_recommendations') }}

),

final as (

    select
        {{ audience_columns('customers', loyalty.date_to_iso_string('customers.first_order_date')) }},
        customers.days_since_last_order as days_since_first_order,
        customers.lifetime_revenue as first_order_total,
        customers.favourite_category,
        recommendations.recommended_product_id,
        recommendations.recommended_product_name,
        recommendations.recommended_product_category

    from customers
    left join recommendations
        on customers.customer_id = recommendations.customer_id
    where
        customers.order_count = 1
        and customers.days_since_last_order
        between {{ var('second_purchase_min_days_since_first_order') }}
        and {{ var('second_purchase_max_days_since_first_order') }}

)

select * from final
