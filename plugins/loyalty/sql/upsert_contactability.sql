-- Included by ingest_*.sql (read_sql resolves `-- include:` lines): the CTE that upserts
-- loyalty.contactability from a `contactability_changes` CTE; an older event never overwrites a newer state.
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
    on conflict (channel, address) do update set
        customer_id = coalesce(excluded.customer_id, current_state.customer_id),
        is_contactable = excluded.is_contactable,
        reason = excluded.reason,
        source_event_id = excluded.source_event_id,
        changed_at = excluded.changed_at,
        updated_at = now()
    where current_state.changed_at <= excluded.changed_at
    returning 1

)
