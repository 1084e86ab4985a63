-- A workflow's rows planned (still pending) for one run date, with the audience row each message is
-- rendered from (the row's own context, else its journey entry's): a dry run renders them all.
select
    ledger.step_id,
    ledger.channel,
    ledger.variant,
    ledger.customer_id,
    coalesce(ledger.context, entry.context) as context
from loyalty.send_ledger as ledger
left join loyalty.journey_entries as entry
    on
        ledger.workflow_id = entry.workflow_id
        and ledger.customer_id = entry.customer_id
        and ledger.cycle_key = entry.cycle_key
where ledger.workflow_id = %(workflow_id)s
    and ledger.run_date = %(run_date)s
    and ledger.status = 'pending'
order by ledger.step_id, ledger.customer_id
