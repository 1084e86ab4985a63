-- One row per customer in a VIP RFM segment (`vip_segments`: Champions) on the run date, reachable
-- on some channel: a thank-you, not a discount. Once per calendar quarter (cycle: the quarter's first day).

with

customers as (

    select * from {{ ref('int_customers_reachable') }}

),

segments as (

    select * from {{ ref('customer_segments') }}
    where run_date = {{ loyalty.run_date() }}

),

final as (

    select
        {{ audience_columns('customers', loyalty.date_to_iso_string(dbt.date_trunc('quarter', 'customers.run_date'))) }},
        segments.rfm_segment,
        customers.loyalty_tier,
        customers.order_count,
        customers.lifetime_revenue,
        customers.favourite_category

    from customers
    inner join segments
        on customers.customer_id = segments.customer_id
    where
        segments.rfm_segment in (
            {%- for segment in var('vip_segments') %}
                '{{ segment | replace("'", "''") }}'{{ "," if not loop.last }}
            {%- endfor %}
        )

)

select * from final
