-- A message step's deferred rows whose validity window ended before the run date: they never found a
-- day under the frequency cap or free of a higher-priority workflow, and are never sent late.
update loyalty.send_ledger
set
    status = 'suppressed',
    status_reason = 'expired:' || coalesce(status_reason, 'deferred'),
    updated_at = now()
where workflow_id = %(workflow_id)s
    and step_id = %(step_id)s
    and status = 'deferred'
    and valid_until < %(run_date)s
