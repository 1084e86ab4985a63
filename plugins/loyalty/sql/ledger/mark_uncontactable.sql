-- A permanent provider error about the address itself (Twilio 21610/21211, FCM UNREGISTERED, an
-- invalid email address) makes it non-contactable for every later workflow: the same table the
-- webhook receiver keeps, so the next plan suppresses it (reason global_suppression). The source
-- is the ledger row ('ledger:<send_id>'); an older change never overwrites a newer one.
insert into loyalty.contactability as current_state (
    channel, address, customer_id, is_contactable, reason, source_event_id, changed_at
)
select
    ledger.channel,
    case when ledger.channel = 'email' then lower(ledger.recipient) else ledger.recipient end as address,
    ledger.customer_id,
    false as is_contactable,
    dead.reason,
    'ledger:' || ledger.send_id as source_event_id,
    now() as changed_at
from unnest(%(send_ids)s::text[], %(reasons)s::text[]) as dead (send_id, reason)
inner join loyalty.send_ledger as ledger
    on ledger.send_id = dead.send_id
where ledger.recipient is not null
    and ledger.channel in ('email', 'sms', 'push')
on conflict (channel, address) do update
    set is_contactable = false,
        reason = excluded.reason,
        customer_id = coalesce(excluded.customer_id, current_state.customer_id),
        source_event_id = excluded.source_event_id,
        changed_at = excluded.changed_at,
        updated_at = now()
    where current_state.changed_at <= excluded.changed_at
