-- One verified SendGrid Event Webhook batch into raw.message_events, once per sg_event_id, with
-- the send id joined back through the ledger (custom_args put it at the event's top level; an id
-- the ledger does not know is stored as null and counted as unmatched). Unsubscribes, spam
-- reports and hard bounces make the address non-contactable; group_resubscribe makes it
-- contactable again; only newly stored events change anything, and never over a newer change.
-- Parameter: %(events)s, the batch as JSON text (an array of event objects, already checked).
with

incoming as (

    select batch.event

    from jsonb_array_elements(%(events)s::jsonb) as batch (event)

),

normalized as (

    select
        incoming.event ->> 'sg_event_id' as event_id,
        'sendgrid' as provider,
        ledger.send_id,
        ledger.customer_id,
        incoming.event ->> 'sg_message_id' as provider_message_id,
        incoming.event ->> 'event' as event_type,
        to_timestamp((incoming.event ->> 'timestamp')::double precision) as occurred_at,
        incoming.event as payload,
        ledger.recipient,
        incoming.event ->> 'send_id' is not null as is_about_a_send,
        -- Unsubscribes, spam reports and hard bounces turn the address off; group_resubscribe back on.
        case
            when incoming.event ->> 'email' is not null
                and (
                    incoming.event ->> 'event' in ('unsubscribe', 'group_unsubscribe', 'spamreport', 'group_resubscribe')
                    or (incoming.event ->> 'event' = 'bounce' and coalesce(incoming.event ->> 'type', 'bounce') = 'bounce')
                )
                then
                    jsonb_build_object(
                        'channel', 'email',
                        'address', lower(incoming.event ->> 'email'),
                        'is_contactable', incoming.event ->> 'event' = 'group_resubscribe',
                        'reason', 'email_' || (incoming.event ->> 'event')
                    )
        end as contactability_change

    from incoming
    left join loyalty.send_ledger as ledger
        on incoming.event ->> 'send_id' = ledger.send_id

),

-- include: webhooks/store_normalized_events.sql
