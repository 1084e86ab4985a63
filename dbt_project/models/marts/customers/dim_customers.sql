-- One row per customer known on the run date (signed up or ordered on or before it): contact,
-- consent and contactability (int_customer_contactability: the rule of macros/contact_permission.sql),
-- RFM and trailing-window features, tenure, favourite category,
-- inter-purchase interval, expected next order, churn risk (MBG/NBD P(alive)), predicted CLV,
-- loyalty tier, and browsing and the open cart from app events (int_customer_browsing), all as of the
-- run date.
-- Incremental by run date: a build replaces that run date's rows and leaves other days alone.

{{
    config(
        materialized='incremental',
        unique_key='run_date',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['run_date', 'customer_id'], 'unique': true}],
    )
}}

with

customers as (

    select * from {{ ref('int_customers_validated') }}

),

customer_orders as (

    select * from {{ ref('int_customer_orders_aggregated') }}

),

favourite_categories as (

    select * from {{ ref('int_customer_favourite_categories') }}

),

channel_engagement as (

    select * from {{ ref('int_customer_channel_engagement') }}

),

contactability as (

    select * from {{ ref('int_customer_contactability') }}

),

browsing as (

    select * from {{ ref('int_customer_browsing') }}

),

loyalty_tiers as (

    select * from {{ ref('loyalty_tiers') }}

),

parameters as (

    select * from {{ ref('churn_model_parameters') }}

),

customers_joined_to_features as (

    select
        customers.customer_id,
        customers.email,
        customers.phone,
        customers.push_token,
        customers.first_name,
        customers.locale,
        customers.timezone,
        customers.birth_date,
        customers.email_consent,
        coalesce(customers.sms_consent, false) as sms_consent,
        coalesce(customers.push_consent, false) as push_consent,
        customers.signup_date,
        customer_orders.first_order_date,
        customer_orders.last_order_date,
        customer_orders.last_order_id,
        customer_orders.last_order_total,
        coalesce(customer_orders.order_count, 0) as order_count,
        coalesce(customer_orders.lifetime_revenue, 0) as lifetime_revenue,
        coalesce(customer_orders.order_count_90d, 0) as order_count_90d,
        coalesce(customer_orders.revenue_90d, 0) as revenue_90d,
        coalesce(customer_orders.order_count_365d, 0) as order_count_365d,
        coalesce(customer_orders.revenue_365d, 0) as revenue_365d,
        customer_orders.days_between_last_two_orders,
        favourite_categories.favourite_category,
        coalesce(channel_engagement.email_messages_engaged, 0) as email_messages_engaged,
        coalesce(channel_engagement.sms_messages_engaged, 0) as sms_messages_engaged,
        coalesce(channel_engagement.push_messages_engaged, 0) as push_messages_engaged,
        contactability.is_email_contactable,
        contactability.is_sms_contactable,
        contactability.is_push_contactable,
        browsing.last_viewed_at,
        browsing.last_viewed_category,
        coalesce(browsing.product_views_30d, 0) as product_views_30d,
        coalesce(browsing.open_cart_items, 0) as open_cart_items,
        coalesce(browsing.open_cart_value, 0) as open_cart_value,
        browsing.open_cart_updated_at,
        -- A customer's own median gap once they have two completed orders, else the prior.
        coalesce(
            customer_orders.median_days_between_orders,
            {{ var('default_interpurchase_days') }}
        ) as expected_interpurchase_days,
        -- MBG/NBD inputs (macros/churn.sql): repeat orders, first-to-last and first-to-run-date days.
        customer_orders.order_count - 1 as repeat_orders,
        {{ dbt.datediff('customer_orders.first_order_date', 'customer_orders.last_order_date', 'day') }}
            as days_first_to_last_order,
        {{ dbt.datediff('customer_orders.first_order_date', loyalty.run_date(), 'day') }}
            as days_first_order_to_run_date

    from customers
    left join customer_orders
        on customers.customer_id = customer_orders.customer_id
    left join favourite_categories
        on customers.customer_id = favourite_categories.customer_id
    left join channel_engagement
        on customers.customer_id = channel_engagement.customer_id
    inner join contactability
        on customers.customer_id = contactability.customer_id
    left join browsing
        on customers.customer_id = browsing.customer_id
    -- Valid customers known on the run date: signed up by then, or ordered by then.
    where
        customers.quarantine_rule is null
        and (
            customers.signup_date <= {{ loyalty.run_date() }}
            or customer_orders.customer_id is not null
        )

),

customers_with_preferred_channel as (

    select
        *,
        -- The contactable channel the customer engaged with most; ties and no history favour
        -- email, then SMS, then push. Null when no channel is contactable.
        case
            when
                is_email_contactable
                and (not is_sms_contactable or email_messages_engaged >= sms_messages_engaged)
                and (not is_push_contactable or email_messages_engaged >= push_messages_engaged)
                then 'email'
            when
                is_sms_contactable
                and (not is_push_contactable or sms_messages_engaged >= push_messages_engaged)
                then 'sms'
            when is_push_contactable then 'push'
        end as preferred_channel

    from customers_joined_to_features

),

customers_with_churn_model as (

    select
        customers_with_preferred_channel.*,
        case
            when customers_with_preferred_channel.order_count > 0
                then {{ loyalty.mbg_nbd_p_alive('repeat_orders', 'days_first_to_last_order', 'days_first_order_to_run_date') }}
        end as p_alive,
        parameters.rate_r,
        parameters.rate_alpha,
        parameters.dropout_a,
        parameters.dropout_b

    from customers_with_preferred_channel
    cross join parameters

),

customers_with_predictions as (

    select
        customers_with_churn_model.*,
        case
            when customers_with_churn_model.order_count > 0
                then {{ loyalty.mbg_nbd_p_order_within(
                    var('clv_horizon_days'), 'p_alive', 'repeat_orders', 'days_first_order_to_run_date',
                    parameters='customers_with_churn_model',
                ) }}
        end as probability_of_order_next_365d,
        case
            when customers_with_churn_model.order_count > 0
                then {{ loyalty.mbg_nbd_expected_orders_within(
                    var('clv_horizon_days'), 'p_alive', 'repeat_orders', 'days_first_order_to_run_date',
                    parameters='customers_with_churn_model',
                ) }}
        end as predicted_orders_next_365d

    from customers_with_churn_model

),

-- Loyalty tier bands: each distinct minimum revenue starts a band that ends at the next one; a
-- customer in the band holds the highest-ranked tier whose minimum is at or below it (the running
-- maximum of the rank), so a range join finds it without grouping a million rows.
loyalty_tier_thresholds as (

    select
        min_revenue_365d,
        max(tier_rank) as tier_rank_at_threshold

    from loyalty_tiers
    group by min_revenue_365d

),

loyalty_tier_bands as (

    select
        min_revenue_365d,
        lead(min_revenue_365d) over (order by min_revenue_365d) as next_min_revenue_365d,
        max(tier_rank_at_threshold) over (
            order by min_revenue_365d
            rows between unbounded preceding and current row
        ) as tier_rank

    from loyalty_tier_thresholds

),

loyalty_tier_bands_named as (

    select
        loyalty_tier_bands.min_revenue_365d,
        loyalty_tier_bands.next_min_revenue_365d,
        loyalty_tiers.loyalty_tier

    from loyalty_tier_bands
    inner join loyalty_tiers
        on loyalty_tier_bands.tier_rank = loyalty_tiers.tier_rank

),

final as (

    select
        cast(customers_with_predictions.customer_id as {{ dbt.type_bigint() }}) as customer_id,
        {{ loyalty.run_date() }} as run_date,
        customers_with_predictions.email,
        customers_with_predictions.first_name,
        customers_with_predictions.locale,
        customers_with_predictions.timezone,
        customers_with_predictions.email_consent,
        customers_with_predictions.signup_date,
        customers_with_predictions.first_order_date,
        customers_with_predictions.last_order_date,
        cast(customers_with_predictions.order_count as {{ dbt.type_int() }}) as order_count,
        customers_with_predictions.lifetime_revenue,
        round(customers_with_predictions.lifetime_revenue / nullif(customers_with_predictions.order_count, 0), 2)
            as average_order_value,
        cast(
            {{ dbt.datediff('customers_with_predictions.last_order_date', loyalty.run_date(), 'day') }}
            as {{ dbt.type_int() }}
        ) as days_since_last_order,
        cast(customers_with_predictions.expected_interpurchase_days as {{ dbt.type_float() }})
            as expected_interpurchase_days,
        cast(
            {{ dbt.datediff('customers_with_predictions.last_order_date', loyalty.run_date(), 'day') }}
            - customers_with_predictions.expected_interpurchase_days
            as {{ dbt.type_float() }}
        ) as days_overdue,
        customers_with_predictions.phone,
        customers_with_predictions.birth_date,
        customers_with_predictions.sms_consent,
        customers_with_predictions.push_consent,
        customers_with_predictions.is_email_contactable,
        customers_with_predictions.is_sms_contactable,
        customers_with_predictions.is_push_contactable,
        customers_with_predictions.preferred_channel,
        cast(
            {{ dbt.datediff('customers_with_predictions.signup_date', loyalty.run_date(), 'day') }}
            as {{ dbt.type_int() }}
        ) as tenure_days,
        cast(customers_with_predictions.order_count_90d as {{ dbt.type_int() }}) as order_count_90d,
        customers_with_predictions.revenue_90d,
        cast(customers_with_predictions.order_count_365d as {{ dbt.type_int() }}) as order_count_365d,
        customers_with_predictions.revenue_365d,
        customers_with_predictions.favourite_category,
        customers_with_predictions.last_order_id,
        customers_with_predictions.last_order_total,
        cast(customers_with_predictions.days_between_last_two_orders as {{ dbt.type_int() }})
            as days_between_last_two_orders,
        cast(
            {{ dbt.dateadd(
                'day',
                'cast(floor(customers_with_predictions.expected_interpurchase_days + 0.5) as ' ~ dbt.type_int() ~ ')',
                'customers_with_predictions.last_order_date'
            ) }}
            as date
        ) as expected_next_order_date,
        cast(customers_with_predictions.p_alive as {{ dbt.type_float() }}) as p_alive,
        cast(1 - customers_with_predictions.p_alive as {{ dbt.type_float() }}) as churn_risk_score,
        cast(customers_with_predictions.probability_of_order_next_365d as {{ dbt.type_float() }})
            as probability_of_order_next_365d,
        cast(customers_with_predictions.predicted_orders_next_365d as {{ dbt.type_float() }})
            as predicted_orders_next_365d,
        round(
            cast(customers_with_predictions.predicted_orders_next_365d as {{ dbt.type_numeric() }})
            * customers_with_predictions.lifetime_revenue / nullif(customers_with_predictions.order_count, 0),
            2
        ) as predicted_clv_365d,
        loyalty_tier_bands_named.loyalty_tier,
        customers_with_predictions.last_viewed_at,
        customers_with_predictions.last_viewed_category,
        cast(customers_with_predictions.product_views_30d as {{ dbt.type_int() }}) as product_views_30d,
        cast(customers_with_predictions.open_cart_items as {{ dbt.type_int() }}) as open_cart_items,
        -- Typed as the contract says: on a table built before these columns, on_schema_change adds them
        -- with this query's types.
        cast(customers_with_predictions.open_cart_value as numeric(18, 2)) as open_cart_value,
        customers_with_predictions.open_cart_updated_at,
        -- Last: on_schema_change appends it to a table built before it, so both orders agree.
        customers_with_predictions.push_token

    from customers_with_predictions
    left join loyalty_tier_bands_named
        on
            customers_with_predictions.revenue_365d >= loyalty_tier_bands_named.min_revenue_365d
            and (
                loyalty_tier_bands_named.next_min_revenue_365d is null
                or customers_with_predictions.revenue_365d < loyalty_tier_bands_named.next_min_revenue_365d
            )

)

select * from final
