-- One row per customer eligible for the win-back workflow on the run date.
-- Lapsed: longer since the last order than both a floor and a multiple of the customer's own
-- expected interval, but not so long that the customer is lost. Thresholds are vars (dbt_project.yml).

with

customers as (

    select * from {{ ref('dim_customers') }}
    where run_date = {{ loyalty.run_date() }}

),

contactable_customers_with_orders as (

    select *
    from customers
    where
        email_consent
        and email is not null
        and order_count >= 1

),

customers_with_lapse_threshold as (

    select
        *,
        {{ loyalty.lapse_threshold_days('expected_interpurchase_days') }} as lapse_threshold_days

    from contactable_customers_with_orders

),

lapsed_customers as (

    select *
    from customers_with_lapse_threshold
    where
        days_since_last_order > lapse_threshold_days
        and days_since_last_order <= {{ var('win_back_max_days_since_last_order') }}

),

final as (

    select
        customer_id,
        run_date,
        email,
        email_consent,
        first_name,
        locale,
        -- One win-back per lapse episode: a new order starts a new episode with a new key.
        cast({{ loyalty.date_to_iso_string('last_order_date') }} as {{ dbt.type_string() }}) as cycle_key,
        days_since_last_order,
        days_overdue,
        lifetime_revenue,
        phone,
        timezone,
        sms_consent,
        push_consent,
        preferred_channel,
        last_order_date,
        expected_interpurchase_days,
        churn_risk_score,
        favourite_category,
        loyalty_tier

    from lapsed_customers

)

select * from final
