-- One row per customer eligible for the win-back workflow on the run date.
-- Lapsed: longer since the last order than both a floor and a multiple of the customer's own
-- expected interval, but not so long that the customer is lost. Thresholds are vars (dbt_project.yml).
-- Unlike the other eligibility models (int_customers_reachable), the audience is the customers with
-- email consent and an address — the first half of the contact-permission rule
-- (macros/contact_permission.sql) — and the plan applies the suppression list, so an opted-out
-- lapsed customer is counted as suppressed (global_suppression) rather than left out.

with

customers as (

    select * from {{ ref('dim_customers') }}
    where run_date = {{ loyalty.run_date() }}

),

customers_with_email_consent_and_orders as (

    select *
    from customers
    where
        {{ loyalty.channel_has_consent('email_consent', 'email') }}
        and order_count >= 1

),

customers_with_lapse_threshold as (

    select
        *,
        {{ loyalty.lapse_threshold_days('expected_interpurchase_days') }} as lapse_threshold_days

    from customers_with_email_consent_and_orders

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
        push_token,
        preferred_channel,
        last_order_date,
        expected_interpurchase_days,
        churn_risk_score,
        favourite_category,
        loyalty_tier

    from lapsed_customers

)

select * from final
