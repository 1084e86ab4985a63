-- Record a workflow's plan for a run date as completed, in the plan's own transaction (a dry run or a
-- failed plan leaves no row).
insert into loyalty.completed_plans (workflow_id, run_date)
values (%(workflow_id)s, %(run_date)s)
on conflict (workflow_id, run_date) do update set completed_at = now()
