-- A workflow's pending rows of one run date become 'suppressed' with %(reason)s (the audience gate
-- failed): no later batch sends them.
update loyalty.send_ledger
set
    status = 'suppressed',
    status_reason = %(reason)s,
    updated_at = now()
where workflow_id = %(workflow_id)s
    and run_date = %(run_date)s
    and status = 'pending'
