-- One row per workflow and treated variant, plus one row per workflow for all variants pooled
-- ('all_variants'): incrementality per journey entry against the workflow's own holdout, and the same
-- against the global holdout. Conversion lift with Newcombe (absolute) and Katz (relative) 95%
-- intervals, revenue per entry with a Welch interval, incremental conversions and revenue, and the
-- power of the comparison (minimum detectable effect, entries still needed).

with

arms as (

    select * from {{ ref('int_workflow_arms') }}

),

treated as (

    select * from arms
    where arm not in ('holdout', 'global_holdout')

),

holdouts as (

    select * from arms
    where arm = 'holdout'

),

global_holdouts as (

    select * from arms
    where arm = 'global_holdout'

),

treated_joined_to_holdouts as (

    select
        treated.workflow_id,
        treated.arm as variant,
        treated.arm = 'all_variants' as is_pooled,
        treated.entries,
        treated.delivered_entries,
        treated.converted,
        treated.revenue,
        treated.revenue_sum_of_squares,
        holdouts.entries as holdout_entries,
        holdouts.converted as holdout_converted,
        holdouts.revenue as holdout_revenue,
        holdouts.revenue_sum_of_squares as holdout_revenue_sum_of_squares,
        global_holdouts.entries as global_holdout_entries,
        global_holdouts.converted as global_holdout_converted

    from treated
    left join holdouts
        on treated.workflow_id = holdouts.workflow_id
    left join global_holdouts
        on treated.workflow_id = global_holdouts.workflow_id

),

lifts as (

    select
        *,
        {{ loyalty.proportion('converted', 'entries') }} as conversion_rate,
        revenue / nullif(entries, 0) as revenue_per_entry,
        {{ loyalty.proportion('delivered_entries', 'entries') }} as delivered_share,
        {{ loyalty.proportion('holdout_converted', 'holdout_entries') }} as holdout_conversion_rate,
        holdout_revenue / nullif(holdout_entries, 0) as holdout_revenue_per_entry,
        {{ loyalty.proportion('converted', 'entries') }}
        - {{ loyalty.proportion('holdout_converted', 'holdout_entries') }} as absolute_lift,
        case when holdout_entries > 0 then
                {{ loyalty.newcombe_lower('converted', 'entries', 'holdout_converted', 'holdout_entries') }}
        end as lift_ci_low,
        case when holdout_entries > 0 then
                {{ loyalty.newcombe_upper('converted', 'entries', 'holdout_converted', 'holdout_entries') }}
        end as lift_ci_high,
        case when holdout_entries > 0 then
                {{ loyalty.katz_lower('converted', 'entries', 'holdout_converted', 'holdout_entries') }}
        end as relative_lift_ci_low,
        case when holdout_entries > 0 then
                {{ loyalty.katz_upper('converted', 'entries', 'holdout_converted', 'holdout_entries') }}
        end as relative_lift_ci_high,
        revenue / nullif(entries, 0) - holdout_revenue / nullif(holdout_entries, 0) as revenue_lift,
        {{ loyalty.welch_standard_error(
            'entries', 'revenue', 'revenue_sum_of_squares',
            'holdout_entries', 'holdout_revenue', 'holdout_revenue_sum_of_squares'
        ) }} as revenue_lift_standard_error,
        {{ loyalty.welch_degrees(
            'entries', 'revenue', 'revenue_sum_of_squares',
            'holdout_entries', 'holdout_revenue', 'holdout_revenue_sum_of_squares'
        ) }} as revenue_lift_degrees,
        {{ loyalty.minimum_detectable_effect('converted', 'entries', 'holdout_converted', 'holdout_entries') }}
            as minimum_detectable_effect,
        {{ loyalty.proportion('global_holdout_converted', 'global_holdout_entries') }}
            as global_holdout_conversion_rate,
        case when global_holdout_entries > 0 then
                {{ loyalty.newcombe_lower('converted', 'entries', 'global_holdout_converted', 'global_holdout_entries') }}
        end as global_lift_ci_low,
        case when global_holdout_entries > 0 then
                {{ loyalty.newcombe_upper('converted', 'entries', 'global_holdout_converted', 'global_holdout_entries') }}
        end as global_lift_ci_high

    from treated_joined_to_holdouts

),

lifts_with_power as (

    select
        *,
        revenue_lift - {{ loyalty.t_quantile_975('revenue_lift_degrees') }} * revenue_lift_standard_error
            as revenue_lift_ci_low,
        revenue_lift + {{ loyalty.t_quantile_975('revenue_lift_degrees') }} * revenue_lift_standard_error
            as revenue_lift_ci_high,
        -- Entries (treated + holdout, in today's split) for the observed lift to be detectable at 80% power.
        case when absolute_lift <> 0 and holdout_entries > 0 and entries > 0 then
                2.801585 * 2.801585
                * {{ loyalty.proportion('converted + holdout_converted', 'entries + holdout_entries') }}
                * (1 - {{ loyalty.proportion('converted + holdout_converted', 'entries + holdout_entries') }})
                * (
                    cast(entries + holdout_entries as {{ dbt.type_float() }}) / entries
                    + cast(entries + holdout_entries as {{ dbt.type_float() }}) / holdout_entries
                )
                / (absolute_lift * absolute_lift)
        end as entries_needed

    from lifts

),

final as (

    select
        workflow_id,
        variant,
        is_pooled,
        cast(entries as {{ dbt.type_int() }}) as entries,
        cast(converted as {{ dbt.type_int() }}) as converted,
        {{ loyalty.round_rate('conversion_rate') }} as conversion_rate,
        cast(revenue as {{ dbt.type_numeric() }}) as revenue,
        {{ loyalty.round_rate('revenue_per_entry') }} as revenue_per_entry,
        {{ loyalty.round_rate('delivered_share') }} as delivered_share,
        cast(holdout_entries as {{ dbt.type_int() }}) as holdout_entries,
        cast(holdout_converted as {{ dbt.type_int() }}) as holdout_converted,
        {{ loyalty.round_rate('holdout_conversion_rate') }} as holdout_conversion_rate,
        {{ loyalty.round_rate('holdout_revenue_per_entry') }} as holdout_revenue_per_entry,
        {{ loyalty.round_rate('absolute_lift') }} as absolute_lift,
        {{ loyalty.round_rate('lift_ci_low') }} as lift_ci_low,
        {{ loyalty.round_rate('lift_ci_high') }} as lift_ci_high,
        {{ loyalty.round_rate('absolute_lift / nullif(holdout_conversion_rate, 0)') }} as relative_lift,
        {{ loyalty.round_rate('relative_lift_ci_low') }} as relative_lift_ci_low,
        {{ loyalty.round_rate('relative_lift_ci_high') }} as relative_lift_ci_high,
        coalesce(lift_ci_low > 0 or lift_ci_high < 0, false) as is_lift_significant,
        {{ loyalty.round_rate('revenue_lift') }} as revenue_lift,
        {{ loyalty.round_rate('revenue_lift_ci_low') }} as revenue_lift_ci_low,
        {{ loyalty.round_rate('revenue_lift_ci_high') }} as revenue_lift_ci_high,
        {{ loyalty.round_rate('absolute_lift * entries') }} as incremental_conversions,
        {{ loyalty.round_rate('lift_ci_low * entries') }} as incremental_conversions_ci_low,
        {{ loyalty.round_rate('lift_ci_high * entries') }} as incremental_conversions_ci_high,
        round(cast(revenue_lift * entries as {{ dbt.type_numeric() }}), 2) as incremental_revenue,
        round(cast(revenue_lift_ci_low * entries as {{ dbt.type_numeric() }}), 2) as incremental_revenue_ci_low,
        round(cast(revenue_lift_ci_high * entries as {{ dbt.type_numeric() }}), 2) as incremental_revenue_ci_high,
        {{ loyalty.round_rate('minimum_detectable_effect') }} as minimum_detectable_effect,
        cast(ceiling(entries_needed) as {{ dbt.type_bigint() }}) as entries_needed,
        cast(
            case
                when entries_needed is null then null
                when entries_needed > entries + holdout_entries then ceiling(entries_needed - entries - holdout_entries)
                else 0
            end as {{ dbt.type_bigint() }}
        ) as entries_still_needed,
        cast(global_holdout_entries as {{ dbt.type_int() }}) as global_holdout_entries,
        {{ loyalty.round_rate('global_holdout_conversion_rate') }} as global_holdout_conversion_rate,
        {{ loyalty.round_rate('conversion_rate - global_holdout_conversion_rate') }} as global_absolute_lift,
        {{ loyalty.round_rate('global_lift_ci_low') }} as global_lift_ci_low,
        {{ loyalty.round_rate('global_lift_ci_high') }} as global_lift_ci_high

    from lifts_with_power

)

select * from final
