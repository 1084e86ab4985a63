-- One row per journey entry (workflow, customer, cycle) selected on or before the run date: the arm
-- decided at entry, what the journey's messages achieved, and the entry's conversion. This is the
-- unit of incrementality: a multi-step journey counts once, whatever number of messages it sent.
-- Treated and held-out entries are measured alike from the same anchor (the run date that entered
-- them, before any message), intent-to-treat.

with

journey_entries as (

    select * from {{ ref('stg_loyalty__journey_entries') }}

),

sends as (

    select * from {{ ref('fct_sends') }}

),

orders as (

    select * from {{ ref('int_orders_as_of_run_date') }}

),

workflow_objectives as (

    select * from {{ ref('workflow_objectives') }}

),

entries_as_of_run_date as (

    select
        journey_entries.workflow_id,
        journey_entries.customer_id,
        journey_entries.cycle_key,
        journey_entries.entered_on,
        journey_entries.run_date as entry_date,
        journey_entries.variant,
        journey_entries.is_holdout,
        journey_entries.is_global_holdout,
        coalesce(workflow_objectives.attribution_window_days, {{ var('attribution_window_days') }})
            as attribution_window_days

    from journey_entries
    left join workflow_objectives
        on journey_entries.workflow_id = workflow_objectives.workflow_id
    where journey_entries.run_date <= {{ loyalty.run_date() }}

),

entries_with_window as (

    select
        *,
        cast(
            {{ dbt.dateadd('day', 'attribution_window_days', 'entry_date') }}
            as date
        ) as attribution_window_end_date

    from entries_as_of_run_date

),

entry_messages as (

    select
        workflow_id,
        customer_id,
        cycle_key,
        sum(case when channel <> 'reward' then 1 else 0 end) as messages_planned,
        sum(case when is_sent and channel <> 'reward' then 1 else 0 end) as messages_sent,
        max(case when is_delivered then 1 else 0 end) as has_delivered_message,
        max(case when is_bounced then 1 else 0 end) as has_bounced_message,
        max(case when is_opened then 1 else 0 end) as has_opened_message,
        max(case when is_clicked then 1 else 0 end) as has_clicked_message,
        max(case when is_unsubscribed then 1 else 0 end) as has_unsubscribed

    from sends
    group by workflow_id, customer_id, cycle_key

),

completed_orders as (

    select
        customer_id,
        ordered_date,
        order_total

    from orders
    where is_completed

),

entry_conversions as (

    select
        entries_with_window.workflow_id,
        entries_with_window.customer_id,
        entries_with_window.cycle_key,
        count(*) as conversion_orders,
        sum(completed_orders.order_total) as revenue

    from entries_with_window
    inner join completed_orders
        on entries_with_window.customer_id = completed_orders.customer_id
            and completed_orders.ordered_date > entries_with_window.entry_date
            and completed_orders.ordered_date <= entries_with_window.attribution_window_end_date
    group by entries_with_window.workflow_id, entries_with_window.customer_id, entries_with_window.cycle_key

),

entries_joined_to_outcomes as (

    select
        entries_with_window.workflow_id,
        entries_with_window.customer_id,
        entries_with_window.cycle_key,
        entries_with_window.entered_on,
        entries_with_window.entry_date,
        entries_with_window.variant,
        entries_with_window.is_holdout,
        entries_with_window.is_global_holdout,
        case
            when entries_with_window.is_global_holdout then 'global_holdout'
            when entries_with_window.is_holdout then 'holdout'
            else entries_with_window.variant
        end as arm,
        coalesce(entry_messages.messages_planned, 0) as messages_planned,
        coalesce(entry_messages.messages_sent, 0) as messages_sent,
        coalesce(entry_messages.has_delivered_message, 0) = 1 as is_delivered,
        coalesce(entry_messages.has_bounced_message, 0) = 1 as is_bounced,
        coalesce(entry_messages.has_opened_message, 0) = 1 as is_opened,
        coalesce(entry_messages.has_clicked_message, 0) = 1 as is_clicked,
        coalesce(entry_messages.has_unsubscribed, 0) = 1 as is_unsubscribed,
        entry_conversions.customer_id is not null as is_converted,
        coalesce(entry_conversions.conversion_orders, 0) as conversion_orders,
        coalesce(entry_conversions.revenue, 0) as revenue,
        entries_with_window.attribution_window_end_date,
        entries_with_window.attribution_window_end_date <= {{ loyalty.run_date() }}
            as is_attribution_window_closed

    from entries_with_window
    left join entry_messages
        on entries_with_window.workflow_id = entry_messages.workflow_id
            and entries_with_window.customer_id = entry_messages.customer_id
            and entries_with_window.cycle_key = entry_messages.cycle_key
    left join entry_conversions
        on entries_with_window.workflow_id = entry_conversions.workflow_id
            and entries_with_window.customer_id = entry_conversions.customer_id
            and entries_with_window.cycle_key = entry_conversions.cycle_key

),

final as (

    select
        workflow_id,
        cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
        cycle_key,
        entered_on,
        entry_date,
        variant,
        is_holdout,
        is_global_holdout,
        arm,
        cast(messages_planned as {{ dbt.type_int() }}) as messages_planned,
        cast(messages_sent as {{ dbt.type_int() }}) as messages_sent,
        is_delivered,
        is_bounced,
        is_opened,
        is_clicked,
        is_unsubscribed,
        is_converted,
        cast(conversion_orders as {{ dbt.type_int() }}) as conversion_orders,
        cast(revenue as {{ dbt.type_numeric() }}) as revenue,
        attribution_window_end_date,
        is_attribution_window_closed

    from entries_joined_to_outcomes

)

select * from final
