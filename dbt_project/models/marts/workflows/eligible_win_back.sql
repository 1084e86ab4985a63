-- One row per customer eligible for the win-back workflow on the run date.
-- Lapsed: longer since the last order than both a floor and a multiple of the customer's own
-- expected interval, but not so long that the customer is lost. Thresholds are vars (dbt_project.yml).

with

customers as (

    select * from {{ ref('dim_customers') }}

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
        case
            when {{ var('win_back_interpurchase_multiplier') }} * expected_interpurchase_days
                > {{ var('win_back_min_days_since_last_order') }}
                then {{ var('win_back_interpurchase_multiplier') }} * expected_interpurchase_days
            else {{ var('win_back_min_days_since_last_order') }}
        end as lapse_threshold_days

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
        first_name,
        locale,
        -- One win-back per lapse episode: a new order starts a new episode with a new key.
        cast({{ loyalty.date_to_iso_string('last_order_date') }} as {{ dbt.type_string() }}) as cycle_key,
        days_since_last_order,
        days_overdue,
        lifetime_revenue

    from lapsed_customers

)

select * from final
