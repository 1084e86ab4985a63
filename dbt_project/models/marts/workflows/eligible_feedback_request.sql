-- One row per customer whose latest completed order was placed between
-- `feedback_min_days_since_order` and `feedback_max_days_since_order` days before the run date (the
-- order has arrived and been used), reachable on some channel: an NPS/CSAT request. One per order (cycle: the order id).

with

customers as (

    select * from {{ ref('int_customers_reachable') }}

),

final as (

    select
        {{ audience_columns('customers', 'customers.last_order_id') }},
        customers.last_order_id as order_id,
        customers.last_order_date as order_date,
        customers.last_order_total as order_total,
        customers.days_since_last_order as days_since_order

    from customers
    where
        customers.days_since_last_order
        between {{ var('feedback_min_days_since_order') }}
        and {{ var('feedback_max_days_since_order') }}

)

select * from final
