-- One row per customer who was sent a message on or before the run date: per channel, how many
-- messages of the last `engagement_lookback_days` days they engaged with (an open or a click
-- reported on or before the run date). dim_customers picks the preferred channel from it.

with

sends as (

    select * from {{ ref('stg_loyalty__sends') }}

),

message_events as (

    select * from {{ ref('stg_providers__message_events') }}

),

sends_in_lookback as (

    select
        send_id,
        customer_id,
        channel

    from sends
    where
        not is_holdout
        and run_date <= {{ loyalty.run_date() }}
        and run_date > cast({{ dbt.dateadd('day', -1 * var('engagement_lookback_days'), loyalty.run_date()) }} as date)

),

engaged_sends as (

    select distinct send_id
    from message_events
    where
        event_type in ('open', 'click')
        and {{ loyalty.utc_date('occurred_at') }} <= {{ loyalty.run_date() }}

),

customer_channel_engagement as (

    select
        sends_in_lookback.customer_id,
        count(*) as messages_received,
        sum(case when sends_in_lookback.channel = 'email' and engaged_sends.send_id is not null then 1 else 0 end)
            as email_messages_engaged,
        sum(case when sends_in_lookback.channel = 'sms' and engaged_sends.send_id is not null then 1 else 0 end)
            as sms_messages_engaged,
        sum(case when sends_in_lookback.channel = 'push' and engaged_sends.send_id is not null then 1 else 0 end)
            as push_messages_engaged

    from sends_in_lookback
    left join engaged_sends
        on sends_in_lookback.send_id = engaged_sends.send_id
    group by sends_in_lookback.customer_id

)

select * from customer_channel_engagement
