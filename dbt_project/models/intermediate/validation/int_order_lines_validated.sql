-- One row per order-line row in raw, checked against the data contract and enriched with what
-- never changes after the order is placed (its customer, its time, the product's category).
-- Incremental like int_orders_validated: recent loads plus every line still quarantined.

{{
    config(
        materialized='incremental',
        unique_key='order_line_id',
        incremental_strategy='delete+insert',
        indexes=[{'columns': ['order_line_id'], 'unique': true}, {'columns': ['loaded_at']}],
        post_hook=[
            "{{ loyalty.delete_rows_missing_from(ref('stg_shop__order_lines'), 'order_line_id') }}",
            "{{ loyalty.index_quarantined_rows('order_line_id') }}",
        ],
        on_schema_change='sync_all_columns',
    )
}}

with

order_lines as (

    {% if is_incremental() %}
        {{ loyalty.rows_to_revalidate(ref('stg_shop__order_lines'), 'order_line_id') }}
    {% else %}
        select * from {{ ref('stg_shop__order_lines') }}
    {% endif %}

),

orders as (

    select
        order_id,
        customer_id,
        ordered_at,
        ordered_date,
        quarantine_rule

    from {{ ref('int_orders_validated') }}
    {% if is_incremental() %}
        -- Only the orders of the lines reprocessed: looked up by key, not millions hashed.
        where order_id in (select order_lines.order_id from order_lines)
    {% endif %}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

order_lines_checked as (

    select
        order_lines.order_line_id,
        order_lines.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.ordered_date,
        order_lines.product_id,
        products.product_category,
        order_lines.quantity,
        order_lines.unit_price,
        order_lines.line_total,
        order_lines.loaded_at,
        case
            when order_lines.order_id is null then 'null_order_id'
            when order_lines.product_id is null then 'null_product_id'
            when orders.order_id is null then 'unknown_order'
            when orders.quarantine_rule is not null then 'order_quarantined'
            when products.product_id is null then 'unknown_product'
            when order_lines.quantity <= 0 then 'non_positive_quantity'
            when order_lines.unit_price < 0 then 'negative_unit_price'
        end as quarantine_rule

    from order_lines
    left join orders
        on order_lines.order_id = orders.order_id
    left join products
        on order_lines.product_id = products.product_id

)

select * from order_lines_checked
