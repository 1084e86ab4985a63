-- What the provider said about each claimed row, in one statement: %(outcomes)s is one JSON array
-- of {send_id, status, provider_message_id, reason, response}, one element per row (one parameter,
-- encoded once, instead of five arrays of a thousand elements each). Only rows still in 'sending'
-- change: a row is recorded once.
with outcomes as (
    select *
    -- The alias carries the record's column definitions.
    from jsonb_to_recordset(%(outcomes)s::jsonb) as outcome (  -- noqa: AL05
            send_id text, status text, provider_message_id text, reason text, response jsonb
        )
)

update loyalty.send_ledger as ledger
set
    status = outcomes.status,
    provider_message_id = coalesce(outcomes.provider_message_id, ledger.provider_message_id),
    provider_response = coalesce(outcomes.response, ledger.provider_response),
    status_reason = coalesce(outcomes.reason, ledger.status_reason),
    sent_at = case when outcomes.status = 'sent' then now() else ledger.sent_at end,
    updated_at = now()
from outcomes
where ledger.send_id = outcomes.send_id
    and ledger.status = 'sending'
