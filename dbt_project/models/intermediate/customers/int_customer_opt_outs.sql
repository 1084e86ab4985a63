-- One row per customer with a channel opted out on or before the run date, from provider feedback
-- (loyalty.contactability: unsubscribes, STOP keywords, hard bounces, spam reports). Emails and
-- phone numbers match by address; push by customer (device tokens are not in raw.customers).
-- contactability holds the latest state only: a change after the run date hides an earlier one, so
-- a past run date sees the opt-outs that are still in force and happened by then.

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
        phone

    from {{ ref('int_customers_validated') }}
    where quarantine_rule is null

),

email_opt_outs as (

    select
        customers.customer_id,
        'email' as channel

    from customers
    inner join contactability
        on
            contactability.channel = 'email'
            and customers.email = contactability.address

),

sms_opt_outs as (

    select
        customers.customer_id,
        'sms' as channel

    from customers
    inner join contactability
        on
            contactability.channel = 'sms'
            and customers.phone = contactability.address

),

push_opt_outs as (

    select
        customer_id,
        'push' as channel

    from contactability
    where
        channel = 'push'
        and customer_id is not null

),

opt_outs as (

    select * from email_opt_outs
    union all
    select * from sms_opt_outs
    union all
    select * from push_opt_outs

),

final as (

    select
        customer_id,
        max(case when channel = 'email' then 1 else 0 end) = 1 as is_email_opted_out,
        max(case when channel = 'sms' then 1 else 0 end) = 1 as is_sms_opted_out,
        max(case when channel = 'push' then 1 else 0 end) = 1 as is_push_opted_out

    from opt_outs
    group by customer_id

)

select * from final
