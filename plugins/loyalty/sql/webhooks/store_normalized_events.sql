-- Included last by webhooks/ingest_*.sql (loyalty.sql_files resolves `-- include:` lines): what both
-- ingest statements do with their `normalized` events (columns event_id, provider, send_id,
-- provider_message_id, event_type, occurred_at, payload, customer_id, recipient, is_about_a_send and
-- contactability_change: {channel, address, is_contactable, reason} or null; a null address means the recipient).
-- Each event is stored in raw.message_events once per event id (a provider's retry is a no-op); only
-- newly stored events change loyalty.contactability, the latest per address, and an older event never
-- overwrites a newer state. Returns one row: events stored, unmatched (about a send the ledger does
-- not know) and contactability changes written.
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

    select distinct on (normalized.contactability_change ->> 'channel', address)
        normalized.contactability_change ->> 'channel' as channel,
        coalesce(normalized.contactability_change ->> 'address', lower(normalized.recipient)) as address,
        normalized.customer_id,
        (normalized.contactability_change ->> 'is_contactable')::boolean as is_contactable,
        normalized.contactability_change ->> 'reason' as reason,
        normalized.event_id as source_event_id,
        normalized.occurred_at as changed_at

    from inserted
    inner join normalized
        on inserted.event_id = normalized.event_id
    where
        jsonb_typeof(normalized.contactability_change) = 'object'
        and coalesce(normalized.contactability_change ->> 'address', normalized.recipient) is not null
    order by normalized.contactability_change ->> 'channel' asc, address asc, normalized.occurred_at desc, normalized.event_id desc

),

contactability_written as (

    insert into loyalty.contactability as current_state (
        channel, address, customer_id, is_contactable, reason, source_event_id, changed_at
    )
    select
        channel,
        address,
        customer_id,
        is_contactable,
        reason,
        source_event_id,
        changed_at
    from contactability_changes
    on conflict (channel, address) do update
        set customer_id = coalesce(excluded.customer_id, current_state.customer_id),
            is_contactable = excluded.is_contactable,
            reason = excluded.reason,
            source_event_id = excluded.source_event_id,
            changed_at = excluded.changed_at,
            updated_at = now()
        where current_state.changed_at <= excluded.changed_at
    returning 1

)

select
    (select count(*) from inserted) as stored_events,
    (
        select count(*) from normalized
        where send_id is null and is_about_a_send
    ) as unmatched_events,
    (select count(*) from contactability_written) as contactability_changes
