-- One verified SendGrid Event Webhook batch into raw.message_events, once per sg_event_id, with
-- the send id joined back through the ledger (custom_args put it at the event's top level; an id
-- the ledger does not know is stored as null and counted as unmatched). Unsubscribes, spam
-- reports and hard bounces make the address non-contactable; group_resubscribe makes it
-- contactable again; only newly stored events change anything, and never over a newer change.
-- Parameter: %(events)s, the batch as JSON text (an array of event objects, already checked).
with

incoming as (

    select
        batch.event,
        batch.position

    from jsonb_array_elements(%(events)s::jsonb) with ordinality as batch (event, position)

),

normalized as (

    select
        incoming.event ->> 'sg_event_id' as event_id,
        'sendgrid' as provider,
        ledger.send_id,
        incoming.event ->> 'send_id' as claimed_send_id,
        ledger.customer_id,
        incoming.event ->> 'sg_message_id' as provider_message_id,
        incoming.event ->> 'event' as event_type,
        to_timestamp((incoming.event ->> 'timestamp')::double precision) as occurred_at,
        incoming.event as payload,
        lower(incoming.event ->> 'email') as address

    from incoming
    left join loyalty.send_ledger as ledger
        on incoming.event ->> 'send_id' = ledger.send_id

),

inserted as (

    insert into raw.message_events (event_id, provider, send_id, provider_message_id, event_type, occurred_at, payload)
    select
        event_id,
        provider,
        send_id,
        provider_message_id,
        event_type,
        occurred_at,
        payload
    from normalized
    on conflict (event_id) do nothing
    returning event_id

),

contactability_changes as (

    select distinct on (normalized.address)
        'email' as channel,
        normalized.address,
        normalized.customer_id,
        normalized.event_type = 'group_resubscribe' as is_contactable,
        'email_' || normalized.event_type as reason,
        normalized.event_id as source_event_id,
        normalized.occurred_at as changed_at

    from inserted
    inner join normalized
        on inserted.event_id = normalized.event_id
    where
        normalized.address is not null
        and (
            normalized.event_type in ('unsubscribe', 'group_unsubscribe', 'spamreport', 'group_resubscribe')
            or (normalized.event_type = 'bounce' and coalesce(normalized.payload ->> 'type', 'bounce') = 'bounce')
        )
    order by normalized.address, normalized.occurred_at desc, normalized.event_id desc

),

-- include: upsert_contactability.sql

select
    (select count(*) from inserted) as stored,
    (select count(*) from normalized where send_id is null and claimed_send_id is not null) as unmatched,
    (select count(*) from contactability_written) as contactability_changes
