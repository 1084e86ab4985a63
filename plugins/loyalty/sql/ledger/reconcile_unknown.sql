-- Reconciliation: rows left in 'sending' that no lookup can confirm become 'unknown' (reported, never
-- resent blindly), with %(reason)s saying why.
update loyalty.send_ledger
set
    status = 'unknown',
    status_reason = %(reason)s,
    updated_at = now()
where send_id = any(%(send_ids)s)
    and status = 'sending'
