-- One row per customer with at least one completed order on or before the run date:
-- frequency and monetary value over their lifetime and the trailing 90 and 365 days,
-- first and last order (with the last order's id and total), and their own median gap between orders.
-- Incremental: each build carries the previous build's rows forward and recomputes only the customers
-- whose row can change (macros/carry_forward.sql); a run date before the previous one recomputes everyone.
-- depends_on: {{ ref('int_customers_validated') }}

{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['customer_id'], 'unique': true}],
        post_hook='delete from {{ this }} where order_count = 0',
    )
}}

{%- set previous_run_date = loyalty.previous_run_date() %}
{%- set previous_inputs_loaded_through = loyalty.previous_inputs_loaded_through() %}

with

orders as (

    select * from {{ ref('int_orders_as_of_run_date') }}

),

-- How far the orders were loaded when this build ran: the next build's starting point.
inputs_loaded as (

    select max(loaded_at) as inputs_loaded_through
    from {{ ref('int_orders_validated') }}

),

{% if is_incremental() %}

    orders_validated as (

        select * from {{ ref('int_orders_validated') }}

    ),

    customers as (

        select * from {{ ref('int_customers_validated') }}

    ),

    customers_to_recompute as (

        {{ loyalty.customers_to_recompute(
            previous_run_date,
            previous_inputs_loaded_through,
            orders='orders_validated',
            customers='customers',
            trailing_window_days=[90, 365],
        ) }}

    ),

{% endif %}

completed_orders as (

    select
        order_id,
        customer_id,
        ordered_date,
        order_total,
        {{ dbt.datediff('ordered_date', loyalty.run_date(), 'day') }} as days_before_run_date,
        {{ dbt.datediff(
            'lag(ordered_date) over (partition by customer_id order by ordered_at, order_id)',
            'ordered_date',
            'day'
        ) }} as days_since_previous_order,
        lead(order_id) over (partition by customer_id order by ordered_at, order_id) is null as is_last_order

    from orders
    {% if is_incremental() %}
        where
            is_completed
            and customer_id in (select customers_to_recompute.customer_id from customers_to_recompute)
    {% else %}
        where is_completed
    {% endif %}

),

customer_orders as (

    select
        customer_id,
        min(ordered_date) as first_order_date,
        max(ordered_date) as last_order_date,
        max(case when is_last_order then order_id end) as last_order_id,
        max(case when is_last_order then order_total end) as last_order_total,
        count(*) as order_count,
        sum(order_total) as lifetime_revenue,
        sum(case when days_before_run_date < 90 then 1 else 0 end) as order_count_90d,
        sum(case when days_before_run_date < 90 then order_total else 0 end) as revenue_90d,
        sum(case when days_before_run_date < 365 then 1 else 0 end) as order_count_365d,
        sum(case when days_before_run_date < 365 then order_total else 0 end) as revenue_365d,
        -- Gaps between consecutive completed orders (null on a first order, which the median skips).
        {{ loyalty.median('days_since_previous_order') }} as median_days_between_orders,
        max(case when is_last_order then days_since_previous_order end) as days_between_last_two_orders

    from completed_orders
    group by customer_id

),

{% if is_incremental() %}

    -- Recomputed customers left without a completed order (refunded, erased, or after the run date
    -- when going back): an empty row replaces their old one and the post-hook deletes it.
    recomputed_customers_without_orders as (

        select previous_rows.customer_id
        from {{ this }} as previous_rows
        inner join customers_to_recompute
            on previous_rows.customer_id = customers_to_recompute.customer_id
        left join customer_orders
            on previous_rows.customer_id = customer_orders.customer_id
        where customer_orders.customer_id is null

    ),

{% endif %}

final as (

    select
        customer_orders.customer_id,
        customer_orders.first_order_date,
        customer_orders.last_order_date,
        customer_orders.last_order_id,
        customer_orders.last_order_total,
        customer_orders.order_count,
        customer_orders.lifetime_revenue,
        customer_orders.order_count_90d,
        customer_orders.revenue_90d,
        customer_orders.order_count_365d,
        customer_orders.revenue_365d,
        customer_orders.median_days_between_orders,
        customer_orders.days_between_last_two_orders,
        {{ loyalty.run_date() }} as computed_for_run_date,
        inputs_loaded.inputs_loaded_through

    from customer_orders
    cross join inputs_loaded

    {% if is_incremental() %}

        union all

        select
            recomputed_customers_without_orders.customer_id,
            null as first_order_date,
            null as last_order_date,
            null as last_order_id,
            null as last_order_total,
            0 as order_count,
            0 as lifetime_revenue,
            0 as order_count_90d,
            0 as revenue_90d,
            0 as order_count_365d,
            0 as revenue_365d,
            null as median_days_between_orders,
            null as days_between_last_two_orders,
            {{ loyalty.run_date() }} as computed_for_run_date,
            inputs_loaded.inputs_loaded_through

        from recomputed_customers_without_orders
        cross join inputs_loaded

    {% endif %}

)

select * from final
