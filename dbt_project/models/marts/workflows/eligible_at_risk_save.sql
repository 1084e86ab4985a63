-- One row per customer in an at-risk RFM segment (`at_risk_segments`: At Risk, Can't Lose) on the
-- run date, reachable on some channel: valuable customers going quiet, before win-back would catch them.
-- One save attempt per episode (cycle: the last order date).

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
        {{ audience_columns('customers', loyalty.date_to_iso_string('customers.last_order_date')) }},
        segments.rfm_segment,
        customers.churn_risk_score,
        customers.days_since_last_order,
        customers.lifetime_revenue,
        customers.predicted_clv_365d,
        customers.favourite_category,
        customers.loyalty_tier

    from customers
    inner join segments
        on customers.customer_id = segments.customer_id
    where
        segments.rfm_segment in (
            {%- for segment in var('at_risk_segments') %}
                '{{ segment | replace("'", "''") }}'{{ "," if not loop.last }}
            {%- endfor %}
        )

)

select * from final
