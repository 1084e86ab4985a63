-- One row per workflow with an objective and per week of entries (entry dates truncated to the week)
-- whose attribution windows have closed: the objective's metric for that week's entries and for
-- every entry up to that week (the trend), against the spec's target and deadline.
--   conversion_rate       treated entries' conversion rate
--   absolute_lift         treated minus own-holdout conversion rate
--   revenue_per_customer  treated minus own-holdout revenue per entry (the specs' revenue objectives
--                         are "extra currency units per customer", i.e. incremental)

with

entries as (

    select * from {{ ref('fct_journey_entries') }}

),

workflow_objectives as (

    select * from {{ ref('workflow_objectives') }}

),

weekly as (

    select
        workflow_id,
        cast({{ dbt.date_trunc('week', 'entry_date') }} as date) as entry_week,
        sum(case when not is_holdout then 1 else 0 end) as treated_entries,
        sum(case when not is_holdout and is_converted then 1 else 0 end) as treated_converted,
        sum(case when not is_holdout then revenue else 0 end) as treated_revenue,
        sum(case when is_holdout and not is_global_holdout then 1 else 0 end) as holdout_entries,
        sum(case when is_holdout and not is_global_holdout and is_converted then 1 else 0 end) as holdout_converted,
        sum(case when is_holdout and not is_global_holdout then revenue else 0 end) as holdout_revenue

    from entries
    where is_attribution_window_closed
    group by workflow_id, cast({{ dbt.date_trunc('week', 'entry_date') }} as date)

),

cumulative as (

    select
        *,
        sum(treated_entries) over (partition by workflow_id order by entry_week rows unbounded preceding)
            as cumulative_treated_entries,
        sum(treated_converted) over (partition by workflow_id order by entry_week rows unbounded preceding)
            as cumulative_treated_converted,
        sum(treated_revenue) over (partition by workflow_id order by entry_week rows unbounded preceding)
            as cumulative_treated_revenue,
        sum(holdout_entries) over (partition by workflow_id order by entry_week rows unbounded preceding)
            as cumulative_holdout_entries,
        sum(holdout_converted) over (partition by workflow_id order by entry_week rows unbounded preceding)
            as cumulative_holdout_converted,
        sum(holdout_revenue) over (partition by workflow_id order by entry_week rows unbounded preceding)
            as cumulative_holdout_revenue,
        row_number() over (partition by workflow_id order by entry_week desc) = 1 as is_latest_week

    from weekly

),

measured as (

    select
        cumulative.*,
        workflow_objectives.objective_metric,
        workflow_objectives.objective_target,
        workflow_objectives.objective_deadline,
        case workflow_objectives.objective_metric
            when 'conversion_rate' then {{ loyalty.proportion('treated_converted', 'treated_entries') }}
            when 'absolute_lift'
                then
                    {{ loyalty.proportion('treated_converted', 'treated_entries') }}
                    - {{ loyalty.proportion('holdout_converted', 'holdout_entries') }}
            when 'revenue_per_customer' then
                treated_revenue / nullif(treated_entries, 0) - holdout_revenue / nullif(holdout_entries, 0)
        end as week_value,
        case workflow_objectives.objective_metric
            when 'conversion_rate'
                then
                    {{ loyalty.proportion('cumulative_treated_converted', 'cumulative_treated_entries') }}
            when 'absolute_lift'
                then
                    {{ loyalty.proportion('cumulative_treated_converted', 'cumulative_treated_entries') }}
                    - {{ loyalty.proportion('cumulative_holdout_converted', 'cumulative_holdout_entries') }}
            when 'revenue_per_customer' then
                cumulative_treated_revenue / nullif(cumulative_treated_entries, 0)
                - cumulative_holdout_revenue / nullif(cumulative_holdout_entries, 0)
        end as cumulative_value

    from cumulative
    inner join workflow_objectives
        on cumulative.workflow_id = workflow_objectives.workflow_id
    where workflow_objectives.objective_metric is not null

),

with_trend as (

    select
        *,
        cumulative_value
        - lag(cumulative_value) over (partition by workflow_id order by entry_week) as change_from_previous_week

    from measured

),

final as (

    select
        workflow_id,
        entry_week,
        objective_metric,
        objective_target,
        objective_deadline,
        cast(treated_entries as {{ dbt.type_int() }}) as week_treated_entries,
        cast(holdout_entries as {{ dbt.type_int() }}) as week_holdout_entries,
        {{ loyalty.round_rate('week_value') }} as week_value,
        cast(cumulative_treated_entries as {{ dbt.type_int() }}) as cumulative_treated_entries,
        cast(cumulative_holdout_entries as {{ dbt.type_int() }}) as cumulative_holdout_entries,
        {{ loyalty.round_rate('cumulative_value') }} as cumulative_value,
        {{ loyalty.round_rate('change_from_previous_week') }} as change_from_previous_week,
        {{ loyalty.round_rate('cumulative_value / nullif(objective_target, 0)') }} as progress_to_target,
        coalesce(cumulative_value >= objective_target, false) as is_target_met,
        cast({{ dbt.datediff(loyalty.run_date(), 'objective_deadline', 'day') }} as {{ dbt.type_int() }})
            as days_to_deadline,
        is_latest_week

    from with_trend

)

select * from final
