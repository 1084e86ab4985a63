-- What the provider said about each claimed row, in one statement (arrays of equal length, one
-- element per row). Only rows still in 'sending' change: a row is recorded once.
with outcomes as (
    select *
    from unnest(
        %(send_ids)s::text[],
        %(statuses)s::text[],
        %(provider_message_ids)s::text[],
        %(reasons)s::text[],
        %(responses)s::jsonb[]
    ) as outcome (send_id, status, provider_message_id, reason, response)
)

update loyalty.send_ledger as ledger
set status = outcomes.status,
    provider_message_id = coalesce(outcomes.provider_message_id, ledger.provider_message_id),
    provider_response = coalesce(outcomes.response, ledger.provider_response),
    status_reason = coalesce(outcomes.reason, ledger.status_reason),
    sent_at = case when outcomes.status = 'sent' then now() else ledger.sent_at end,
    updated_at = now()
from outcomes
where ledger.send_id = outcomes.send_id
    and ledger.status = 'sending'
