-- Group a workflow step's unbatched pending rows into batches of at most %(batch_size)s.
-- Batch ids are stable once written, so a retried or rerun send task claims the same rows.
with numbered as (
    select
        send_id,
        (row_number() over (order by send_id) - 1) / %(batch_size)s as batch_number
    from loyalty.send_ledger
    where workflow_id = %(workflow_id)s
        and step_id = %(step_id)s
        and status = 'pending'
        and batch_id is null
        and run_date <= %(run_date)s
)

update loyalty.send_ledger as ledger
set batch_id = %(batch_prefix)s || '-' || lpad(numbered.batch_number::text, 5, '0'),
    updated_at = now()
from numbered
where ledger.send_id = numbered.send_id
