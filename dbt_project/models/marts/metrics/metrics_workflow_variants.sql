-- One row per workflow and arm — each A/B variant, 'holdout' (the workflow's own holdout) and
-- 'global_holdout' — measured per journey entry (a multi-step journey counts once): the funnel,
-- conversions and revenue, the lift against the own holdout with 95% intervals, the A/B verdict
-- (sample-ratio check, winner) and the workflow's objective progress. What `loyalty report` reads.

with

entries as (

    select * from {{ ref('fct_journey_entries') }}

),

incrementality as (

    select * from {{ ref('metrics_workflow_incrementality') }}

),

experiments as (

    select * from {{ ref('metrics_workflow_experiments') }}

),

objectives as (

    select * from {{ ref('metrics_workflow_objectives') }}
    where is_latest_week

),

workflow_verdicts as (

    select
        workflow_id,
        max(srm_p_value) as srm_p_value,
        max(case when is_sample_ratio_mismatch then 1 else 0 end) = 1 as is_sample_ratio_mismatch,
        max(winning_variant) as winning_variant

    from experiments
    group by workflow_id

),

arm_funnels as (

    select
        workflow_id,
        arm as variant,
        max(case when is_holdout then 1 else 0 end) = 1 as is_holdout,
        max(case when is_global_holdout then 1 else 0 end) = 1 as is_global_holdout,
        count(*) as audience,
        sum(messages_sent) as messages_sent,
        sum(case when messages_sent > 0 then 1 else 0 end) as sent,
        sum(case when is_delivered then 1 else 0 end) as delivered,
        sum(case when is_bounced then 1 else 0 end) as bounced,
        sum(case when is_opened then 1 else 0 end) as opened,
        sum(case when is_clicked then 1 else 0 end) as clicked,
        sum(case when is_unsubscribed then 1 else 0 end) as unsubscribed,
        sum(case when is_converted then 1 else 0 end) as converted,
        sum(revenue) as revenue

    from entries
    group by workflow_id, arm

),

holdouts as (

    select
        workflow_id,
        audience as holdout_audience,
        converted as holdout_converted

    from arm_funnels
    where variant = 'holdout'

),

final as (

    select
        arm_funnels.workflow_id,
        arm_funnels.variant,
        case
            when arm_funnels.is_global_holdout then 'global_holdout'
            when arm_funnels.is_holdout then 'holdout'
            else 'variant'
        end as arm_type,
        arm_funnels.is_holdout,
        arm_funnels.is_global_holdout,
        cast(arm_funnels.audience as {{ dbt.type_int() }}) as audience,
        cast(arm_funnels.messages_sent as {{ dbt.type_int() }}) as messages_sent,
        cast(arm_funnels.sent as {{ dbt.type_int() }}) as sent,
        cast(arm_funnels.delivered as {{ dbt.type_int() }}) as delivered,
        cast(arm_funnels.bounced as {{ dbt.type_int() }}) as bounced,
        cast(arm_funnels.opened as {{ dbt.type_int() }}) as opened,
        cast(arm_funnels.clicked as {{ dbt.type_int() }}) as clicked,
        cast(arm_funnels.unsubscribed as {{ dbt.type_int() }}) as unsubscribed,
        cast(arm_funnels.converted as {{ dbt.type_int() }}) as converted,
        cast(arm_funnels.revenue as {{ dbt.type_numeric() }}) as revenue,
        {{ loyalty.round_rate(loyalty.proportion('arm_funnels.converted', 'arm_funnels.audience')) }} as conversion_rate,
        round(cast(arm_funnels.revenue / nullif(arm_funnels.audience, 0) as {{ dbt.type_numeric() }}), 2)
            as revenue_per_customer,
        cast(holdouts.holdout_audience as {{ dbt.type_int() }}) as holdout_audience,
        cast(holdouts.holdout_converted as {{ dbt.type_int() }}) as holdout_converted,
        {{ loyalty.round_rate(loyalty.proportion('holdouts.holdout_converted', 'holdouts.holdout_audience')) }}
            as holdout_conversion_rate,
        incrementality.absolute_lift,
        incrementality.lift_ci_low,
        incrementality.lift_ci_high,
        incrementality.relative_lift,
        incrementality.relative_lift_ci_low,
        incrementality.relative_lift_ci_high,
        incrementality.revenue_lift,
        incrementality.revenue_lift_ci_low,
        incrementality.revenue_lift_ci_high,
        incrementality.incremental_conversions,
        incrementality.incremental_revenue,
        incrementality.minimum_detectable_effect,
        incrementality.entries_still_needed,
        experiments.difference_vs_control,
        experiments.difference_ci_low,
        experiments.difference_ci_high,
        workflow_verdicts.srm_p_value,
        coalesce(workflow_verdicts.is_sample_ratio_mismatch, false) as is_sample_ratio_mismatch,
        workflow_verdicts.winning_variant,
        coalesce(workflow_verdicts.winning_variant = arm_funnels.variant, false) as is_winner,
        objectives.objective_metric,
        objectives.objective_target,
        objectives.objective_deadline,
        objectives.cumulative_value as objective_value,
        objectives.progress_to_target as objective_progress,
        objectives.change_from_previous_week as objective_trend

    from arm_funnels
    left join holdouts
        on arm_funnels.workflow_id = holdouts.workflow_id
    left join incrementality
        on arm_funnels.workflow_id = incrementality.workflow_id
            and arm_funnels.variant = incrementality.variant
    left join experiments
        on arm_funnels.workflow_id = experiments.workflow_id
            and arm_funnels.variant = experiments.variant
    left join workflow_verdicts
        on arm_funnels.workflow_id = workflow_verdicts.workflow_id
    left join objectives
        on arm_funnels.workflow_id = objectives.workflow_id

)

select * from final
