-- How many messages the workflow's last %(runs)s run dates before this one planned (rewards
-- excepted): the audience gate's size band is drawn around their median.
select
    run_date,
    count(*) as messages
from loyalty.send_ledger
where workflow_id = %(workflow_id)s
    and run_date < %(run_date)s
    and channel <> 'reward'
    and status in ('pending', 'sending', 'sent', 'failed', 'unknown')
group by run_date
order by run_date desc
limit %(runs)s
