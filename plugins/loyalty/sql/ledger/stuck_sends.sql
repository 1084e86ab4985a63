-- Rows of a workflow left in 'sending' (of one batch when %(batch_id)s is set), each with whether its
-- claim is older than the grace period (a dead task's) or may still belong to a live task.
select
    channel,
    send_id,
    updated_at < now() - make_interval(secs => %(grace_seconds)s) as is_stale
from loyalty.send_ledger
where workflow_id = %(workflow_id)s
    and status = 'sending'
    and (%(batch_id)s::text is null or batch_id = %(batch_id)s::text)
order by channel, send_id
