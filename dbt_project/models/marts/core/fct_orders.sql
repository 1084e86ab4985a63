-- One row per valid order (any status) loaded into the warehouse; quarantined orders are in
-- data_quality_quarantine instead. A view over the incremental int_orders_validated.

{{ config(materialized='view') }}

with

orders as (

    select * from {{ ref('int_orders_validated') }}

),

final as (

    select
        order_id,
        cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
        ordered_at,
        ordered_date,
        status,
        is_completed,
        order_total,
        loaded_at

    from orders
    where quarantine_rule is null

)

select * from final
