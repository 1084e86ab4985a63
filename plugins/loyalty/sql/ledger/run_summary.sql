-- A workflow's ledger rows of one run date by step and status.
select
    step_id,
    status,
    count(*) as row_count
from loyalty.send_ledger
where workflow_id = %(workflow_id)s
    and run_date = %(run_date)s
group by 1, 2
order by 1, 2
