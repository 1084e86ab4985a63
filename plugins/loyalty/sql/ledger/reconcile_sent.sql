-- Reconciliation: rows left in 'sending' that the provider's lookup has become 'sent', with the
-- provider's message id when it gave one.
update loyalty.send_ledger as ledger
set
    status = 'sent',
    provider_message_id = coalesce(found.provider_message_id, ledger.provider_message_id),
    sent_at = coalesce(ledger.sent_at, now()),
    status_reason = 'reconciled: the provider has it',
    updated_at = now()
from unnest(%(send_ids)s::text[], %(provider_message_ids)s::text[]) as found (send_id, provider_message_id)
where ledger.send_id = found.send_id
    and ledger.status = 'sending'
