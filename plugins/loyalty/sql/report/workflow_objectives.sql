-- Each workflow's objective per entry week.
select *
from marts.metrics_workflow_objectives
order by workflow_id, entry_week
