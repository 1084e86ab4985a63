-- Valid orders placed on or before the run date: everything after it is invisible to features and
-- eligibility, and so is every quarantined order (int_orders_validated).

with

orders as (

    select * from {{ ref('int_orders_validated') }}

),

orders_as_of_run_date as (

    select
        order_id,
        customer_id,
        ordered_at,
        ordered_date,
        status,
        is_completed,
        order_total,
        loaded_at

    from orders
    where
        quarantine_rule is null
        and ordered_date <= {{ loyalty.run_date() }}

)

select * from orders_as_of_run_date
