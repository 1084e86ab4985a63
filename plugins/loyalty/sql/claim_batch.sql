-- Claim a batch's pending rows for sending. The commit that follows is the point of no return:
-- a row in 'sending' is never claimed again, only reconciled.
update loyalty.send_ledger
set status = 'sending',
    attempts = attempts + 1,
    updated_at = now()
where batch_id = %(batch_id)s
    and status = 'pending'
returning send_id, customer_id, step_id, channel, variant, recipient, context
