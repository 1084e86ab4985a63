-- Priority, the other direction: this action's pending messages (and its holdout rows that stand for
-- a message: they hold the day the same way, see plan_policies.sql) outrank other workflows' messages
-- for the same customer and run date that are still pending (never claimed, so never requested).
-- Those are deferred with reason lower_priority while their validity window lasts (release_deferred.sql
-- tries them again on a later day), else suppressed; a message already out is never taken back
-- (plan_policies.sql deferred ours instead).
update loyalty.send_ledger as loser
set
    status = case when loser.valid_until > loser.run_date then 'deferred' else 'suppressed' end,
    status_reason = 'lower_priority',
    updated_at = now()
from loyalty.send_ledger as winner
where winner.workflow_id = %(workflow_id)s
    and winner.step_id = %(step_id)s
    and winner.run_date = %(run_date)s
    and (winner.status = 'pending' or (winner.status = 'holdout' and winner.recipient is not null))
    and winner.channel <> 'reward'
    and loser.customer_id = winner.customer_id
    and loser.run_date = winner.run_date
    and loser.workflow_id <> winner.workflow_id
    and loser.status = 'pending'
    and loser.channel <> 'reward'
    and (
        coalesce(loser.priority, 50) < %(priority)s
        or (coalesce(loser.priority, 50) = %(priority)s and loser.workflow_id > %(workflow_id)s)
    )
