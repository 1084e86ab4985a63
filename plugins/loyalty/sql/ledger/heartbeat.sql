-- While a batch is out, keep its 'sending' rows fresh, so no reconciliation takes them for a dead
-- task's.
update loyalty.send_ledger
set updated_at = now()
where batch_id = %(batch_id)s
    and status = 'sending'
