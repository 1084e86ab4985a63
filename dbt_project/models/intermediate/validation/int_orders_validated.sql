-- One row per order row in raw, checked against the data contract: quarantine_rule is null for a
-- valid order and names the first rule broken otherwise. Incremental: each run reprocesses rows
-- loaded since the newest row held (minus the late-arriving window) and re-checks every row still
-- quarantined, so an order that arrived before its customer is released once the customer lands.

{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        indexes=[{'columns': ['order_id'], 'unique': true}],
        post_hook="{{ loyalty.delete_rows_missing_from(ref('stg_shop__orders'), 'order_id') }}",
        on_schema_change='sync_all_columns',
    )
}}

with

orders as (

    select * from {{ ref('stg_shop__orders') }}
    {% if is_incremental() %}
        where
            {{ loyalty.loaded_since_last_run('loaded_at') }}
            or order_id in (
                select quarantined.order_id from {{ this }} as quarantined
                where quarantined.quarantine_rule is not null
            )
    {% endif %}

),

customers as (

    select
        customer_id,
        quarantine_rule

    from {{ ref('int_customers_validated') }}

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
