-- Orders placed on or before the run date: everything after it is invisible to features and eligibility.

with

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

orders_as_of_run_date as (

    select
        order_id,
        customer_id,
        ordered_at,
        ordered_date,
        status,
        is_completed,
        order_total

    from orders
    where ordered_date <= {{ loyalty.run_date() }}

)

select * from orders_as_of_run_date
