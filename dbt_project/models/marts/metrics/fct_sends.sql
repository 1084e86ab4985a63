-- One row per send ledger row selected on or before the run date, with its provider outcomes
-- and the completed orders that followed within the attribution window.
-- Holdout rows are measured exactly like treated rows, from the same anchor (the ledger run_date),
-- and conversions are intent-to-treat (counted whether or not the message was delivered).

with

sends as (

    select * from {{ ref('stg_loyalty__sends') }}

),

message_events as (

    select * from {{ ref('stg_providers__message_events') }}

),

orders as (

    select * from {{ ref('int_orders_as_of_run_date') }}

),

workflow_objectives as (

    select * from {{ ref('workflow_objectives') }}

),

sends_as_of_run_date as (

    select
        sends.*,
        cast(
            {{ dbt.dateadd('day', "coalesce(workflow_objectives.attribution_window_days, " ~ var('attribution_window_days') ~ ")", 'sends.run_date') }}
            as date
        ) as attribution_window_end_date

    from sends
    left join workflow_objectives
        on sends.workflow_id = workflow_objectives.workflow_id
    where sends.run_date <= {{ loyalty.run_date() }}

),

send_outcomes as (

    select
        send_id,
        max(case when event_type = 'delivered' then 1 else 0 end) as has_delivered_event,
        max(
            case when event_type in ('bounce', 'dropped', 'undelivered', 'failed') then 1 else 0 end
        ) as has_bounce_event,
        max(case when event_type = 'open' then 1 else 0 end) as has_open_event,
        max(case when event_type = 'click' then 1 else 0 end) as has_click_event,
        max(
            case when event_type in ('unsubscribe', 'group_unsubscribe') then 1 else 0 end
        ) as has_unsubscribe_event,
        max(case when event_type = 'spamreport' then 1 else 0 end) as has_spam_report_event

    from message_events
    where
        send_id is not null
        and {{ loyalty.utc_date('occurred_at') }} <= {{ loyalty.run_date() }}
    group by send_id

),

completed_orders as (

    select
        customer_id,
        ordered_date,
        order_total

    from orders
    where is_completed

),

send_conversions as (

    select
        sends_as_of_run_date.send_id,
        count(*) as conversion_order_count,
        sum(completed_orders.order_total) as revenue

    from sends_as_of_run_date
    inner join completed_orders
        on sends_as_of_run_date.customer_id = completed_orders.customer_id
            and completed_orders.ordered_date > sends_as_of_run_date.run_date
            and completed_orders.ordered_date <= sends_as_of_run_date.attribution_window_end_date
    group by sends_as_of_run_date.send_id

),

sends_joined_to_outcomes as (

    select
        sends_as_of_run_date.send_id,
        sends_as_of_run_date.workflow_id,
        sends_as_of_run_date.step_id,
        sends_as_of_run_date.customer_id,
        sends_as_of_run_date.cycle_key,
        sends_as_of_run_date.run_date,
        sends_as_of_run_date.variant,
        sends_as_of_run_date.is_holdout,
        sends_as_of_run_date.channel,
        sends_as_of_run_date.status,
        sends_as_of_run_date.status_reason,
        sends_as_of_run_date.status = 'sent' as is_sent,
        coalesce(send_outcomes.has_delivered_event, 0) = 1 as is_delivered,
        coalesce(send_outcomes.has_bounce_event, 0) = 1 as is_bounced,
        coalesce(send_outcomes.has_open_event, 0) = 1 as is_opened,
        coalesce(send_outcomes.has_click_event, 0) = 1 as is_clicked,
        coalesce(send_outcomes.has_unsubscribe_event, 0) = 1 as is_unsubscribed,
        coalesce(send_outcomes.has_spam_report_event, 0) = 1 as is_spam_reported,
        send_conversions.send_id is not null as is_converted,
        coalesce(send_conversions.revenue, 0) as revenue,
        sends_as_of_run_date.attribution_window_end_date,
        sends_as_of_run_date.attribution_window_end_date <= {{ loyalty.run_date() }}
            as is_attribution_window_closed

    from sends_as_of_run_date
    left join send_outcomes
        on sends_as_of_run_date.send_id = send_outcomes.send_id
    left join send_conversions
        on sends_as_of_run_date.send_id = send_conversions.send_id

),

final as (

    select
        send_id,
        workflow_id,
        step_id,
        cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
        cycle_key,
        run_date,
        variant,
        is_holdout,
        channel,
        status,
        status_reason,
        is_sent,
        is_delivered,
        is_bounced,
        is_opened,
        is_clicked,
        is_unsubscribed,
        is_spam_reported,
        is_converted,
        revenue,
        attribution_window_end_date,
        is_attribution_window_closed

    from sends_joined_to_outcomes

)

select * from final
