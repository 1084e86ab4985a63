-- One row per valid order line loaded into the warehouse, with its order's customer and date and
-- the product's category; quarantined lines are in data_quality_quarantine instead.
-- A view over the incremental int_order_lines_validated.

{{ config(materialized='view') }}

with

order_lines as (

    select * from {{ ref('int_order_lines_validated') }}

),

final as (

    select
        order_line_id,
        order_id,
        cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
        ordered_at,
        ordered_date,
        cast(product_id as {{ dbt.type_bigint() }}) as product_id,
        product_category,
        quantity,
        unit_price,
        line_total,
        loaded_at

    from order_lines
    where quarantine_rule is null

)

select * from final
