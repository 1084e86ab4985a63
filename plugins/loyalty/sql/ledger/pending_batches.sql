-- A workflow's batches that still have pending rows, by channel (new ones and any an earlier failed
-- run left), in batch-id order.
select
    channel,
    batch_id
from loyalty.send_ledger
where workflow_id = %(workflow_id)s
    and status = 'pending'
    and batch_id is not null
group by channel, batch_id
order by batch_id
