-- One row per workflow, step, arm (variant, 'holdout', 'global_holdout'), channel and run date: the
-- ledger funnel from targeted to converted, suppressions by reason, and rates with their
-- denominators in the name (delivered / sent, opened / delivered, …). Per ledger row (message),
-- so a multi-step journey appears once per step; incrementality is per entry elsewhere.

with

sends as (

    select * from {{ ref('fct_sends') }}

),

sends_with_arm as (

    select
        *,
        case
            when is_holdout and status_reason = 'global_holdout' then 'global_holdout'
            when is_holdout then 'holdout'
            else variant
        end as arm,
        -- A message over the cap or outranked waits (deferred) while its validity window lasts; one that
        -- never found a day is suppressed as expired:<why> and counted with its reason.
        case when status = 'suppressed' then replace(status_reason, 'expired:', '') end as suppression_reason

    from sends

),

daily as (

    select
        workflow_id,
        step_id,
        arm as variant,
        channel,
        run_date,
        count(*) as targeted,
        sum(case when status = 'holdout' then 1 else 0 end) as held_out,
        sum(case when status = 'suppressed' then 1 else 0 end) as suppressed,
        sum(case when suppression_reason = 'no_consented_channel' then 1 else 0 end) as suppressed_no_consented_channel,
        sum(case when suppression_reason = 'global_suppression' then 1 else 0 end) as suppressed_global_suppression,
        sum(case when suppression_reason = 'frequency_cap' then 1 else 0 end) as suppressed_frequency_cap,
        sum(case when suppression_reason = 'lower_priority' then 1 else 0 end) as suppressed_lower_priority,
        sum(case when suppression_reason like 'audience_check_failed%' then 1 else 0 end)
            as suppressed_audience_check_failed,
        sum(case when status in ('pending', 'sending') then 1 else 0 end) as pending,
        sum(case when status = 'deferred' then 1 else 0 end) as deferred_waiting,
        sum(case when status = 'failed' then 1 else 0 end) as failed,
        sum(case when status = 'unknown' then 1 else 0 end) as unknown_outcome,
        sum(case when is_sent then 1 else 0 end) as sent,
        sum(case when is_delivered then 1 else 0 end) as delivered,
        sum(case when is_bounced then 1 else 0 end) as bounced,
        sum(case when is_opened then 1 else 0 end) as opened,
        sum(case when is_clicked then 1 else 0 end) as clicked,
        sum(case when is_unsubscribed then 1 else 0 end) as unsubscribed,
        sum(case when is_spam_reported then 1 else 0 end) as spam_reported,
        sum(case when is_converted then 1 else 0 end) as converted,
        sum(revenue) as revenue

    from sends_with_arm
    group by workflow_id, step_id, arm, channel, run_date

),

final as (

    select
        workflow_id,
        step_id,
        variant,
        channel,
        run_date,
        cast(targeted as {{ dbt.type_int() }}) as targeted,
        cast(held_out as {{ dbt.type_int() }}) as held_out,
        cast(suppressed as {{ dbt.type_int() }}) as suppressed,
        cast(suppressed_no_consented_channel as {{ dbt.type_int() }}) as suppressed_no_consented_channel,
        cast(suppressed_global_suppression as {{ dbt.type_int() }}) as suppressed_global_suppression,
        cast(suppressed_frequency_cap as {{ dbt.type_int() }}) as suppressed_frequency_cap,
        cast(suppressed_lower_priority as {{ dbt.type_int() }}) as suppressed_lower_priority,
        cast(suppressed_audience_check_failed as {{ dbt.type_int() }}) as suppressed_audience_check_failed,
        cast(pending as {{ dbt.type_int() }}) as pending,
        cast(deferred_waiting as {{ dbt.type_int() }}) as deferred_waiting,
        cast(failed as {{ dbt.type_int() }}) as failed,
        cast(unknown_outcome as {{ dbt.type_int() }}) as unknown_outcome,
        cast(sent as {{ dbt.type_int() }}) as sent,
        cast(delivered as {{ dbt.type_int() }}) as delivered,
        cast(bounced as {{ dbt.type_int() }}) as bounced,
        cast(opened as {{ dbt.type_int() }}) as opened,
        cast(clicked as {{ dbt.type_int() }}) as clicked,
        cast(unsubscribed as {{ dbt.type_int() }}) as unsubscribed,
        cast(spam_reported as {{ dbt.type_int() }}) as spam_reported,
        cast(converted as {{ dbt.type_int() }}) as converted,
        cast(revenue as {{ dbt.type_numeric() }}) as revenue,
        {{ loyalty.round_rate(loyalty.proportion('delivered', 'sent')) }} as delivered_per_sent,
        {{ loyalty.round_rate(loyalty.proportion('bounced', 'sent')) }} as bounced_per_sent,
        {{ loyalty.round_rate(loyalty.proportion('opened', 'delivered')) }} as opened_per_delivered,
        {{ loyalty.round_rate(loyalty.proportion('clicked', 'delivered')) }} as clicked_per_delivered,
        {{ loyalty.round_rate(loyalty.proportion('clicked', 'opened')) }} as clicked_per_opened,
        {{ loyalty.round_rate(loyalty.proportion('unsubscribed', 'delivered')) }} as unsubscribed_per_delivered,
        {{ loyalty.round_rate(loyalty.proportion('spam_reported', 'delivered')) }} as spam_reported_per_delivered,
        {{ loyalty.round_rate(loyalty.proportion('converted', 'targeted')) }} as converted_per_targeted

    from daily

)

select * from final
