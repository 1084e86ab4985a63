-- One row per customer row in raw, checked against the data contract.
-- A row-level break (quarantine_rule) excludes the customer from every mart; a malformed email,
-- phone or push token quarantines only that value: it is nulled here, so no message can go to it,
-- and the customer and their orders stay in the counts. marts.data_quality_quarantine lists both.
-- A view: every rule reads only the row itself, so readers check just the customers they need (an
-- incremental build of int_orders_validated looks up a few thousand by key), nothing is rebuilt
-- daily, and a consent or address changed in place in raw.customers is seen by the next build even
-- when the loader leaves loaded_at as it was.

{{ config(materialized='view') }}

with

customers as (

    select * from {{ ref('stg_shop__customers') }}

),

customers_checked as (

    select
        *,
        case
            when customer_id is null then 'null_customer_id'
            when signed_up_at is null then 'null_signup_timestamp'
            when {{ loyalty.is_in_the_future('signed_up_at', 'loaded_at') }} then 'future_timestamp'
        end as quarantine_rule,
        case
            when email is not null and not {{ loyalty.is_well_formed_email('email') }} then 'malformed_email'
        end as email_quarantine_rule,
        case
            when phone is not null and not {{ loyalty.is_well_formed_phone('phone') }} then 'malformed_phone'
        end as phone_quarantine_rule,
        case
            when push_token is not null and not {{ loyalty.is_well_formed_push_token('push_token') }}
                then 'malformed_push_token'
        end as push_token_quarantine_rule

    from customers

),

final as (

    select
        customer_id,
        case when email_quarantine_rule is null then email end as email,
        case when phone_quarantine_rule is null then phone end as phone,
        case when push_token_quarantine_rule is null then push_token end as push_token,
        email as delivered_email,
        phone as delivered_phone,
        push_token as delivered_push_token,
        first_name,
        locale,
        timezone,
        birth_date,
        signed_up_at,
        signup_date,
        email_consent,
        sms_consent,
        push_consent,
        loaded_at,
        quarantine_rule,
        email_quarantine_rule,
        phone_quarantine_rule,
        push_token_quarantine_rule

    from customers_checked

)

select * from final
