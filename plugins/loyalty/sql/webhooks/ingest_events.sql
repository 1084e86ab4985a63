-- Verified events from the receiver's other endpoints (Twilio status callbacks and inbound SMS,
-- push receipts, one-click unsubscribes) into raw.message_events, once per event id. The send
-- id is the one the event names when the ledger knows it, else the ledger row whose
-- provider_message_id is the event's message id (a Twilio SID), else null (counted as unmatched
-- when the event is about a send; an inbound SMS is not). A record's `change` ({channel, address, is_contactable, reason}; a null address
-- means the ledger row's recipient) updates loyalty.contactability when the event is new and
-- not older than the current state.
-- Parameter: %(events)s, JSON text: an array of
--   {event_id, provider, claimed_send_id, provider_message_id, event_type, occurred_at (unix s), payload,
--    is_about_a_send, change}
with

incoming as (

    select batch.record

    from jsonb_array_elements(%(events)s::jsonb) as batch (record)

),

normalized as (

    select
        incoming.record ->> 'event_id' as event_id,
        incoming.record ->> 'provider' as provider,
        coalesce(by_send_id.send_id, by_message_id.send_id) as send_id,
        coalesce(by_send_id.customer_id, by_message_id.customer_id) as customer_id,
        coalesce(by_send_id.recipient, by_message_id.recipient) as recipient,
        incoming.record ->> 'provider_message_id' as provider_message_id,
        incoming.record ->> 'event_type' as event_type,
        to_timestamp((incoming.record ->> 'occurred_at')::double precision) as occurred_at,
        incoming.record -> 'payload' as payload,
        incoming.record -> 'change' as contactability_change,
        coalesce((incoming.record ->> 'is_about_a_send')::boolean, false) as is_about_a_send

    from incoming
    left join loyalty.send_ledger as by_send_id
        on incoming.record ->> 'claimed_send_id' = by_send_id.send_id
    left join lateral (
        select
            ledger.send_id,
            ledger.customer_id,
            ledger.recipient
        from loyalty.send_ledger as ledger
        where
            by_send_id.send_id is null
            and ledger.provider_message_id = incoming.record ->> 'provider_message_id'
        order by ledger.send_id
        limit 1
    ) as by_message_id on true

),

-- include: webhooks/store_normalized_events.sql
