-- One row per raw row (or value) that broke the data contract, with the rule it broke: rows a
-- loader rejected before they reached raw (raw.quarantine) and rows that reached raw but fail a
-- check in the int_*_validated models. Nothing is dropped silently: for each raw table, its valid
-- rows in the marts plus its rows here (row-level rules) add up to the rows in raw.
-- A malformed email, phone or push token quarantines the value only (the customer stays, without it).
-- Rows a Great Expectations raw suite failed (loyalty.quality.check_raw, rule `expectation:…`) have
-- scope `expectation`: they are reported here; the contract rules above decide what reaches the marts.

{{ config(materialized='table') }}

with

loader_rejections as (

    select * from {{ ref('stg_data_quality__quarantine') }}

),

customers as (

    select * from {{ ref('int_customers_validated') }}

),

orders as (

    select * from {{ ref('int_orders_validated') }}

),

order_lines as (

    select * from {{ ref('int_order_lines_validated') }}

),

quarantined_rows as (

    select
        'raw.customers' as source_table,
        cast(customer_id as {{ dbt.type_string() }}) as row_key,
        quarantine_rule,
        'row' as quarantine_scope,
        loaded_at as detected_at

    from customers
    where quarantine_rule is not null

    union all

    select
        'raw.customers' as source_table,
        cast(customer_id as {{ dbt.type_string() }}) as row_key,
        email_quarantine_rule as quarantine_rule,
        'value' as quarantine_scope,
        loaded_at as detected_at

    from customers
    where email_quarantine_rule is not null

    union all

    select
        'raw.customers' as source_table,
        cast(customer_id as {{ dbt.type_string() }}) as row_key,
        phone_quarantine_rule as quarantine_rule,
        'value' as quarantine_scope,
        loaded_at as detected_at

    from customers
    where phone_quarantine_rule is not null

    union all

    select
        'raw.customers' as source_table,
        cast(customer_id as {{ dbt.type_string() }}) as row_key,
        push_token_quarantine_rule as quarantine_rule,
        'value' as quarantine_scope,
        loaded_at as detected_at

    from customers
    where push_token_quarantine_rule is not null

    union all

    select
        'raw.orders' as source_table,
        order_id as row_key,
        quarantine_rule,
        'row' as quarantine_scope,
        loaded_at as detected_at

    from orders
    where quarantine_rule is not null

    union all

    select
        'raw.order_lines' as source_table,
        order_line_id as row_key,
        quarantine_rule,
        'row' as quarantine_scope,
        loaded_at as detected_at

    from order_lines
    where quarantine_rule is not null

    union all

    select
        source_table,
        cast(quarantine_id as {{ dbt.type_string() }}) as row_key,
        quarantine_rule,
        case
            when quarantine_rule like 'expectation:%' then 'expectation'
            else 'loader'
        end as quarantine_scope,
        quarantined_at as detected_at

    from loader_rejections

),

final as (

    select
        source_table,
        row_key,
        quarantine_rule,
        quarantine_scope,
        detected_at

    from quarantined_rows

)

select * from final
