-- Per workflow and message channel, the treated arms' messages (holdouts send nothing; rewards are
-- grants, not messages): what went out, what the providers and the apps reported back, with rates over
-- their own denominators; plus the messages still waiting for a day under the frequency cap (deferred)
-- and those that failed for good.
select
    workflow_id,
    channel,
    sum(sent)::int as sent,
    sum(delivered)::int as delivered,
    sum(opened)::int as opened,
    sum(clicked)::int as clicked,
    sum(bounced)::int as bounced,
    sum(failed)::int as failed,
    sum(deferred_waiting)::int as deferred_waiting,
    sum(delivered)::float / nullif(sum(sent), 0) as delivered_per_sent,
    sum(clicked)::float / nullif(sum(delivered), 0) as clicked_per_delivered
from marts.metrics_workflow_funnel
where variant not in ('holdout', 'global_holdout') and channel <> 'reward'  -- a grant is not a message
group by workflow_id, channel
having sum(sent) + sum(failed) + sum(deferred_waiting) > 0
order by workflow_id, channel
