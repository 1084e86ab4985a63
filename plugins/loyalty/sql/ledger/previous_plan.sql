-- The workflow's latest completed plan before a run date (loyalty.completed_plans): it planned
-- everything due by then, so the next plan reads only what came since.
select
    run_date,
    completed_at
from loyalty.completed_plans
where workflow_id = %(workflow_id)s
    and run_date < %(run_date)s
order by run_date desc
limit 1
