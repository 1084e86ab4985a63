-- One row per valid customer: per channel, whether a provider or the customer turned the channel's
-- address off on or before the run date (loyalty.contactability: unsubscribes, STOP keywords, hard
-- bounces, spam reports), and whether we may contact the customer on it — the contact-permission
-- rule of macros/contact_permission.sql (consent, an address, not opted out), evaluated as of the run
-- date. dim_customers takes its is_<channel>_contactable columns from here.
-- Every channel matches by address: the email, the phone number, the push token (the FCM registration
-- token of the customer's app install; FCM UNREGISTERED turns it off, and a reinstall brings a new token
-- that is contactable again). contactability holds the latest state only: a change after the run date
-- hides an earlier one, so a past run date sees the opt-outs that are still in force and happened by then.

with

contactability as (

    select * from {{ ref('stg_loyalty__contactability') }}
    where
        not is_contactable
        and changed_date <= {{ loyalty.run_date() }}

),

customers as (

    select
        customer_id,
        email,
        phone,
        push_token,
        email_consent,
        sms_consent,
        push_consent

    from {{ ref('int_customers_validated') }}
    where quarantine_rule is null

),

email_opt_outs as (

    select distinct address
    from contactability
    where channel = 'email'

),

sms_opt_outs as (

    select distinct address
    from contactability
    where channel = 'sms'

),

push_opt_outs as (

    select distinct address
    from contactability
    where channel = 'push'

),

customers_with_opt_outs as (

    select
        customers.*,
        email_opt_outs.address is not null as is_email_opted_out,
        sms_opt_outs.address is not null as is_sms_opted_out,
        push_opt_outs.address is not null as is_push_opted_out

    from customers
    left join email_opt_outs
        on customers.email = email_opt_outs.address
    left join sms_opt_outs
        on customers.phone = sms_opt_outs.address
    left join push_opt_outs
        on customers.push_token = push_opt_outs.address

),

final as (

    select
        customer_id,
        is_email_opted_out,
        is_sms_opted_out,
        is_push_opted_out,
        {{ loyalty.channel_is_contactable('email_consent', 'email', 'is_email_opted_out') }} as is_email_contactable,
        {{ loyalty.channel_is_contactable('sms_consent', 'phone', 'is_sms_opted_out') }} as is_sms_contactable,
        {{ loyalty.channel_is_contactable('push_consent', 'push_token', 'is_push_opted_out') }} as is_push_contactable

    from customers_with_opt_outs

)

select * from final
