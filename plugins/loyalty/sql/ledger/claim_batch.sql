-- Claim a batch's pending rows that are due (not deferred by quiet hours) for sending. The commit
-- that follows is the point of no return: a row in 'sending' is never claimed again, only
-- reconciled against the provider (ledger.reconcile_stuck). The claimed rows come back in send-id
-- order, so the provider request (and the ids the provider gives each message) is the same on every
-- rerun of the same batch, whatever the table's physical order after earlier updates.
with claimed as (
    update loyalty.send_ledger
    set
        status = 'sending',
        attempts = attempts + 1,
        updated_at = now()
    where batch_id = %(batch_id)s
        and status = 'pending'
        and (not_before is null or not_before <= %(now)s)
    returning
        send_id,
        customer_id,
        step_id,
        channel,
        variant,
        recipient,
        -- The audience row the message is rendered from: written once, at journey entry (rows planned
        -- before the ledger stopped copying it still carry their own).
        coalesce(
            context,
            (
                select entry.context
                from loyalty.journey_entries as entry
                where entry.workflow_id = send_ledger.workflow_id
                    and entry.customer_id = send_ledger.customer_id
                    and entry.cycle_key = send_ledger.cycle_key
            )
        ) as context
)

-- The claimed rows in the returning list's order (what ledger._message unpacks).
select *
from claimed
order by send_id
