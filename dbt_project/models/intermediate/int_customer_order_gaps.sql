-- Days between each completed order and the same customer's previous completed order, as of the run date.

with

orders as (

    select * from {{ ref('int_orders_as_of_run_date') }}

),

completed_orders as (

    select
        order_id,
        customer_id,
        ordered_at,
        ordered_date

    from orders
    where is_completed

),

orders_with_previous_order as (

    select
        order_id,
        customer_id,
        ordered_date,
        lag(ordered_date) over (
            partition by customer_id
            order by ordered_at, order_id
        ) as previous_ordered_date

    from completed_orders

),

final as (

    select
        order_id,
        customer_id,
        previous_ordered_date,
        ordered_date,
        {{ dbt.datediff('previous_ordered_date', 'ordered_date', 'day') }} as days_since_previous_order

    from orders_with_previous_order
    where previous_ordered_date is not null

)

select * from final
