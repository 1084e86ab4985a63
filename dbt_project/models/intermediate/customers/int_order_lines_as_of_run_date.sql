{{ config(materialized='view') }}

-- Valid lines of valid completed orders placed on or before the run date: what customers bought.

with

order_lines as (

    select * from {{ ref('int_order_lines_validated') }}

),

orders as (

    select * from {{ ref('int_orders_as_of_run_date') }}

),

completed_order_lines as (

    select
        order_lines.order_line_id,
        order_lines.order_id,
        orders.customer_id,
        orders.ordered_date,
        order_lines.product_id,
        order_lines.product_category,
        order_lines.quantity,
        order_lines.line_total

    from order_lines
    inner join orders
        on order_lines.order_id = orders.order_id
    where
        order_lines.quarantine_rule is null
        and orders.is_completed

)

select * from completed_order_lines
