-- One row per customer whose latest completed order was placed between
-- `cross_sell_min_days_since_order` and `cross_sell_max_days_since_order` days before the run date
-- and who has a recommendation ("customers who bought X also bought Y", int_product_affinities),
-- reachable on some channel. One cross-sell per order (cycle: the order id).

with

customers as (

    select * from {{ ref('int_customers_reachable') }}

),

recommendations as (

    select * from {{ ref('int_customer_recommendations') }}

),

final as (

    select
        {{ audience_columns('customers', 'customers.last_order_id') }},
        customers.last_order_id as order_id,
        customers.last_order_date as order_date,
        customers.days_since_last_order as days_since_order,
        recommendations.recommended_product_id,
        recommendations.recommended_product_name,
        recommendations.recommended_product_category

    from customers
    inner join recommendations
        on
            customers.customer_id = recommendations.customer_id
            and customers.last_order_id = recommendations.based_on_order_id
    where
        customers.days_since_last_order
        between {{ var('cross_sell_min_days_since_order') }}
        and {{ var('cross_sell_max_days_since_order') }}

)

select * from final
