-- One customer's ledger rows in a workflow, oldest first (`loyalty preview`).
select
    step_id,
    run_date,
    variant,
    channel,
    status,
    sent_at
from loyalty.send_ledger
where workflow_id = %(workflow_id)s
    and customer_id = %(customer_id)s
order by run_date, step_id
