-- Claim a batch's pending rows that are due (not deferred by quiet hours) for sending. The commit
-- that follows is the point of no return: a row in 'sending' is never claimed again, only
-- reconciled against the provider (ledger.reconcile_stuck).
update loyalty.send_ledger
set status = 'sending',
    attempts = attempts + 1,
    updated_at = now()
where batch_id = %(batch_id)s
    and status = 'pending'
    and (not_before is null or not_before <= %(now)s)
returning send_id, customer_id, step_id, channel, variant, recipient, context
