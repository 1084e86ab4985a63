-- One row per customer with at least points_expiry_min_points expiring within
-- points_expiry_warning_days of the run date, reachable on some channel: the points-expiry reminder's
-- audience. One reminder per expiry date (cycle: the next expiry date).

with

customers as (

    select * from {{ ref('int_customers_reachable') }}

),

customer_points as (

    select * from {{ ref('dim_customer_points') }}

),

final as (

    select
        {{ audience_columns('customers', loyalty.date_to_iso_string('customer_points.next_expiry_date')) }},
        customer_points.points_balance,
        customer_points.points_expiring_soon as points_expiring,
        customer_points.next_expiry_date as points_expire_on,
        customers.loyalty_tier,
        customers.favourite_category

    from customers
    inner join customer_points
        on customers.customer_id = customer_points.customer_id
    where
        customer_points.points_expiring_soon >= {{ var('points_expiry_min_points') }}

)

select * from final
