-- One row per workflow of %(workflows)s for one run date: customers who entered the journey that day (held
-- out among them) and what the ledger did with their rows: messages sent, rewards granted, rows suppressed
-- (with the reasons), rows in any other state, and messages the provider's webhooks reported delivered or opened.
with

entries as (

    select
        workflow_id,
        count(*) as entered,
        count(*) filter (where is_holdout) as held_out
    from loyalty.journey_entries
    where run_date = %(run_date)s
    group by workflow_id

),

ledger_rows as (

    select
        send_id,
        workflow_id,
        channel,
        status,
        status_reason
    from loyalty.send_ledger
    where run_date = %(run_date)s

),

events_per_send as (

    select
        message_events.send_id,
        bool_or(message_events.event_type = 'delivered') as is_delivered,
        bool_or(message_events.event_type = 'open') as is_opened
    from raw.message_events as message_events
    inner join ledger_rows
        on ledger_rows.send_id = message_events.send_id
    group by message_events.send_id

),

ledger_counts as (

    select
        ledger_rows.workflow_id,
        count(*) filter (where ledger_rows.status = 'sent' and ledger_rows.channel <> 'reward') as sent,
        count(*) filter (where ledger_rows.status = 'sent' and ledger_rows.channel = 'reward') as rewarded,
        count(*) filter (where ledger_rows.status = 'suppressed') as suppressed,
        count(*) filter (where ledger_rows.status not in ('sent', 'holdout', 'suppressed')) as other_status,
        count(*) filter (where events_per_send.is_delivered) as delivered,
        count(*) filter (where events_per_send.is_opened) as opened
    from ledger_rows
    left join events_per_send
        on events_per_send.send_id = ledger_rows.send_id
    group by ledger_rows.workflow_id

),

suppression_counts as (

    select
        workflow_id,
        coalesce(status_reason, 'unknown') as reason,
        count(*) as suppressed
    from ledger_rows
    where status = 'suppressed'
    group by workflow_id, coalesce(status_reason, 'unknown')

),

suppression_reasons as (

    select
        workflow_id,
        string_agg(reason || ' ' || suppressed, ', ' order by suppressed desc, reason asc) as suppressed_by_reason
    from suppression_counts
    group by workflow_id

),

final as (

    select
        workflows.workflow_id,
        coalesce(entries.entered, 0)::int as entered,
        coalesce(entries.held_out, 0)::int as held_out,
        coalesce(ledger_counts.sent, 0)::int as sent,
        coalesce(ledger_counts.rewarded, 0)::int as rewarded,
        coalesce(ledger_counts.suppressed, 0)::int as suppressed,
        coalesce(suppression_reasons.suppressed_by_reason, '') as suppressed_by_reason,
        coalesce(ledger_counts.other_status, 0)::int as other_status,
        coalesce(ledger_counts.delivered, 0)::int as delivered,
        coalesce(ledger_counts.opened, 0)::int as opened
    from unnest(%(workflows)s::text[]) with ordinality as workflows (workflow_id, position)
    left join entries
        on entries.workflow_id = workflows.workflow_id
    left join ledger_counts
        on ledger_counts.workflow_id = workflows.workflow_id
    left join suppression_reasons
        on suppression_reasons.workflow_id = workflows.workflow_id
    order by workflows.position

)

select * from final
