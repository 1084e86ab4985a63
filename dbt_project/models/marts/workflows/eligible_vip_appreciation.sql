-- One row per customer in a VIP RFM segment (`vip_segments`: Champions) on the run date, reachable
-- on some channel: a thank-you, not a discount. Once per calendar quarter (cycle: the quarter's first day).

with

customers as (

    select * from {{ ref('dim_customers') }}
    where run_date = {{ loyalty.run_date() }}

),

segments as (

    select * from {{ ref('customer_segments') }}
    where run_date = {{ loyalty.run_date() }}

),

final as (

    select
        customers.customer_id,
        customers.run_date,
        cast({{ loyalty.date_to_iso_string(dbt.date_trunc('quarter', 'customers.run_date')) }} as {{ dbt.type_string() }}) as cycle_key,
        {{ contact_columns('customers') }},
        segments.rfm_segment,
        customers.loyalty_tier,
        customers.order_count,
        customers.lifetime_revenue,
        customers.favourite_category

    from customers
    inner join segments
        on customers.customer_id = segments.customer_id
    where
        (customers.is_email_contactable or customers.is_sms_contactable or customers.is_push_contactable)
        and segments.rfm_segment in (
            {%- for segment in var('vip_segments') %}
                '{{ segment | replace("'", "''") }}'{{ "," if not loop.last }}
            {%- endfor %}
        )

)

select * from final
