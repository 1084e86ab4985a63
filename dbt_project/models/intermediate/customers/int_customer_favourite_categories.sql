-- One row per customer with a completed order line on or before the run date: the product
-- category they bought the most units of (ties: more spend, then category name).
-- Incremental like int_customer_orders_aggregated (macros/carry_forward.sql): only customers with an
-- order placed since the previous build's run date, or an order, line or customer row loaded since it,
-- are recomputed; the favourite category has no trailing window.
-- depends_on: {{ ref('int_customers_validated') }}
-- depends_on: {{ ref('int_order_lines_validated') }}
-- depends_on: {{ ref('int_orders_as_of_run_date') }}
-- Not read: so that `dbt build` runs this model after the app events' windowed tests, which read its
-- inputs_loaded_through as the previous build's (macros/incremental.sql: previous_build_loaded_through).
-- depends_on: {{ ref('stg_shop__app_events') }}

{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['customer_id'], 'unique': true}],
        post_hook='delete from {{ this }} where favourite_category is null',
    )
}}

{%- set previous_run_date = loyalty.previous_run_date() %}
{%- set previous_inputs_loaded_through = loyalty.previous_inputs_loaded_through() %}

with

-- How far the orders were loaded when this build ran: the next build's starting point.
inputs_loaded as (

    select max(loaded_at) as inputs_loaded_through
    from {{ ref('int_orders_validated') }}

),

{% if is_incremental() %}

    orders_validated as (

        select * from {{ ref('int_orders_validated') }}

    ),

    order_lines_validated as (

        select * from {{ ref('int_order_lines_validated') }}

    ),

    customers as (

        select * from {{ ref('int_customers_validated') }}

    ),

    orders as (

        select * from {{ ref('int_orders_as_of_run_date') }}

    ),

    customers_to_recompute as (

        {{ loyalty.customers_to_recompute(
            previous_run_date,
            previous_inputs_loaded_through,
            orders='orders_validated',
            customers='customers',
            order_lines='order_lines_validated',
        ) }}

    ),

    -- The lines of int_order_lines_as_of_run_date (valid lines of valid completed orders placed on or
    -- before the run date), for these customers only: their orders first, then those orders' lines.
    completed_orders_to_recompute as (

        select
            orders.order_id,
            orders.customer_id

        from orders
        where
            orders.is_completed
            and orders.customer_id in (select customers_to_recompute.customer_id from customers_to_recompute)

    ),

    order_lines as (

        select
            completed_orders_to_recompute.customer_id,
            order_lines_validated.product_category,
            order_lines_validated.quantity,
            order_lines_validated.line_total

        from order_lines_validated
        inner join completed_orders_to_recompute
            on order_lines_validated.order_id = completed_orders_to_recompute.order_id
        where order_lines_validated.quarantine_rule is null

    ),

{% else %}

    order_lines as (

        select * from {{ ref('int_order_lines_as_of_run_date') }}

    ),

{% endif %}

customer_categories as (

    select
        customer_id,
        product_category,
        sum(quantity) as units_bought,
        sum(line_total) as spend

    from order_lines
    where product_category is not null
    group by customer_id, product_category

),

customer_categories_ranked as (

    select
        customer_id,
        product_category,
        units_bought,
        spend,
        row_number() over (
            partition by customer_id
            order by units_bought desc, spend desc, product_category asc
        ) as category_rank

    from customer_categories

),

favourite_categories as (

    select
        customer_id,
        product_category as favourite_category,
        units_bought as favourite_category_units

    from customer_categories_ranked
    where category_rank = 1

),

{% if is_incremental() %}

    -- Recomputed customers left without a completed order line: an empty row replaces their old
    -- one and the post-hook deletes it.
    recomputed_customers_without_lines as (

        select previous_rows.customer_id
        from {{ this }} as previous_rows
        inner join customers_to_recompute
            on previous_rows.customer_id = customers_to_recompute.customer_id
        left join favourite_categories
            on previous_rows.customer_id = favourite_categories.customer_id
        where favourite_categories.customer_id is null

    ),

{% endif %}

final as (

    select
        favourite_categories.customer_id,
        favourite_categories.favourite_category,
        favourite_categories.favourite_category_units,
        {{ loyalty.run_date() }} as computed_for_run_date,
        inputs_loaded.inputs_loaded_through

    from favourite_categories
    cross join inputs_loaded

    {% if is_incremental() %}

        union all

        select
            recomputed_customers_without_lines.customer_id,
            null as favourite_category,
            null as favourite_category_units,
            {{ loyalty.run_date() }} as computed_for_run_date,
            inputs_loaded.inputs_loaded_through

        from recomputed_customers_without_lines
        cross join inputs_loaded

    {% endif %}

)

select * from final
