-- One planned step's ledger rows of a run date by status, reason and channel: the plan's summary.
select
    status,
    coalesce(status_reason, '') as status_reason,
    channel,
    count(*) as row_count
from loyalty.send_ledger
where workflow_id = %(workflow_id)s
    and step_id = %(step_id)s
    and run_date = %(run_date)s
group by 1, 2, 3
