-- Reconciliation: rows left in 'sending' that the provider's authoritative lookup proves it never
-- received go back to 'pending', to be sent once.
update loyalty.send_ledger
set
    status = 'pending',
    status_reason = 'reconciled: never reached the provider; requeued',
    updated_at = now()
where send_id = any(%(send_ids)s)
    and status = 'sending'
