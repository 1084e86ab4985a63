{#- A message step's deferred rows, decided again on a later run date, before the day's new rows are
    planned (a message that waited goes first). Rendered like plan_action.sql: the frequency cap's
    CTE only when the workflow has a cap.
      - past their validity window (valid_until before the run date): suppressed, reason
        expired:<why> (expire_deferred.sql ran just before): never sent late;
      - the address turned non-contactable while waiting (loyalty.contactability): suppressed,
        reason global_suppression;
      - otherwise the contact policies of plan_policies.sql, as for a new row: a row that fits is
        pending again with today's run date (the cap and priority count it today, the batch
        assignment picks it up); one still over the cap or outranked stays deferred with today's
        reason. -#}
with routed as (
    select
        waiting.send_id,
        waiting.customer_id,
        false as is_holdout,
        false as is_global_holdout,
        case when blocked.address is null then waiting.channel end as channel,
        blocked.address is not null as has_suppressed_channel,
        waiting.recipient
    from loyalty.send_ledger as waiting
    left join loyalty.contactability as blocked
        on
            blocked.channel = waiting.channel
            and blocked.address = case when waiting.channel = 'email' then lower(waiting.recipient) else waiting.recipient end
            and not blocked.is_contactable
    where waiting.workflow_id = %(workflow_id)s
        and waiting.step_id = %(step_id)s
        and waiting.status = 'deferred'
        and waiting.run_date < %(run_date)s
        and waiting.valid_until >= %(run_date)s
),

-- include: ledger/plan_policies.sql

update loyalty.send_ledger as ledger
set
    status = decided.status,
    status_reason = decided.status_reason,
    run_date = case when decided.status = 'pending' then %(run_date)s::date else ledger.run_date end,
    -- Batched again today (a row deferred by preempt_lower_priority.sql may carry a batch it never went out in).
    batch_id = case when decided.status = 'pending' then null else ledger.batch_id end,
    updated_at = now()
from decided
where ledger.send_id = decided.send_id
    and (decided.status <> 'deferred' or decided.status_reason is distinct from ledger.status_reason)
