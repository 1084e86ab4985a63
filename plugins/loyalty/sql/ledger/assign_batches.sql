-- Group a workflow's unbatched pending rows (every step) into batches of at most %(batch_size)s
-- per step and channel. Batch ids are stable once written, so a retried or rerun send task
-- claims the same rows.
with numbered as (
    select
        send_id,
        step_id,
        channel,
        (row_number() over (partition by step_id, channel order by send_id) - 1) / %(batch_size)s as batch_number
    from loyalty.send_ledger
    where workflow_id = %(workflow_id)s
        and status = 'pending'
        and batch_id is null
        and run_date <= %(run_date)s
)

update loyalty.send_ledger as ledger
set
    batch_id = %(workflow_id)s || ':' || numbered.step_id || ':' || numbered.channel || ':' || %(run_date)s::text
    || '-' || lpad(numbered.batch_number::text, 5, '0'),
    updated_at = now()
from numbered
where ledger.send_id = numbered.send_id
