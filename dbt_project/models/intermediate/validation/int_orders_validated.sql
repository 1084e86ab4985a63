-- One row per order row in raw, checked against the data contract: quarantine_rule is null for a
-- valid order and names the first rule broken otherwise. Incremental: each run reprocesses rows
-- loaded since the newest row held (minus the late-arriving window) and re-checks every row still
-- quarantined, so an order that arrived before its customer is released once the customer lands.

{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        indexes=[{'columns': ['order_id'], 'unique': true}, {'columns': ['loaded_at']}],
        post_hook=[
            "{{ loyalty.delete_rows_missing_from(ref('stg_shop__orders'), 'order_id') }}",
            "{{ loyalty.index_quarantined_rows('order_id') }}",
        ],
        on_schema_change='sync_all_columns',
    )
}}

with

orders as (

    {% if is_incremental() %}
        {{ loyalty.rows_to_revalidate(ref('stg_shop__orders'), 'order_id') }}
    {% else %}
        select * from {{ ref('stg_shop__orders') }}
    {% endif %}

),

customers as (

    select
        customer_id,
        quarantine_rule

    from {{ ref('int_customers_validated') }}
    {% if is_incremental() %}
        -- Only the customers of the orders reprocessed: looked up by key.
        where customer_id in (select orders.customer_id from orders)
    {% endif %}

),

orders_checked as (

    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.ordered_date,
        orders.status,
        orders.is_completed,
        orders.order_total,
        orders.loaded_at,
        case
            when orders.customer_id is null then 'null_customer_id'
            when orders.ordered_at is null then 'null_order_timestamp'
            when customers.customer_id is null then 'unknown_customer'
            when customers.quarantine_rule is not null then 'customer_quarantined'
            when orders.order_total < 0 then 'negative_order_total'
            when {{ loyalty.is_in_the_future('orders.ordered_at', 'orders.loaded_at') }} then 'future_timestamp'
        end as quarantine_rule

    from orders
    left join customers
        on orders.customer_id = customers.customer_id

)

select * from orders_checked
