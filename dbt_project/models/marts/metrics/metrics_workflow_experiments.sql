-- One row per workflow and A/B variant of its spec: per-entry results with Wilson intervals, the
-- difference against the control (the spec's first variant) with Newcombe and Welch intervals, a
-- sample-ratio-mismatch chi-square check of the assignment against the spec's shares, and the
-- declared winner — only when an interval excludes zero and the assignment is not broken.

with

arms as (

    select * from {{ ref('int_workflow_arms') }}

),

workflow_variants as (

    select * from {{ ref('workflow_variants') }}

),

workflow_objectives as (

    select * from {{ ref('workflow_objectives') }}

),

-- Categories of the sample-ratio check: the workflow's own holdout and each variant, among entries
-- outside the global holdout, with the share the spec expects.
expected_categories as (

    select
        workflow_variants.workflow_id,
        workflow_variants.variant as arm,
        (1 - workflow_objectives.holdout_pct) * workflow_variants.weight as expected_share

    from workflow_variants
    inner join workflow_objectives
        on workflow_variants.workflow_id = workflow_objectives.workflow_id

    union all

    select
        workflow_id,
        'holdout' as arm,
        holdout_pct as expected_share

    from workflow_objectives
    where holdout_pct > 0

),

categories_observed as (

    select
        expected_categories.workflow_id,
        expected_categories.arm,
        expected_categories.expected_share,
        coalesce(arms.entries, 0) as entries

    from expected_categories
    left join arms
        on expected_categories.workflow_id = arms.workflow_id
            and expected_categories.arm = arms.arm

),

categories_with_totals as (

    select
        *,
        sum(entries) over (partition by workflow_id) as assigned_entries

    from categories_observed

),

sample_ratio_checks as (

    select
        workflow_id,
        max(assigned_entries) as assigned_entries,
        sum(
            (entries - assigned_entries * expected_share) * (entries - assigned_entries * expected_share)
            / nullif(assigned_entries * expected_share, 0)
        ) as srm_chi_square,
        count(*) - 1 as srm_degrees_of_freedom

    from categories_with_totals
    group by workflow_id

),

variants as (

    select
        workflow_variants.workflow_id,
        workflow_variants.variant,
        workflow_variants.variant_position,
        workflow_variants.variant_position = 1 as is_control,
        categories_with_totals.expected_share,
        coalesce(arms.entries, 0) as entries,
        coalesce(arms.converted, 0) as converted,
        coalesce(arms.revenue, 0) as revenue,
        coalesce(arms.revenue_sum_of_squares, 0) as revenue_sum_of_squares,
        categories_with_totals.entries * 1.0 / nullif(categories_with_totals.assigned_entries, 0) as observed_share

    from workflow_variants
    left join arms
        on workflow_variants.workflow_id = arms.workflow_id
            and workflow_variants.variant = arms.arm
    left join categories_with_totals
        on workflow_variants.workflow_id = categories_with_totals.workflow_id
            and workflow_variants.variant = categories_with_totals.arm

),

controls as (

    select
        workflow_id,
        variant as control_variant,
        entries as control_entries,
        converted as control_converted,
        revenue as control_revenue,
        revenue_sum_of_squares as control_revenue_sum_of_squares

    from variants
    where is_control

),

variants_compared as (

    select
        variants.*,
        controls.control_variant,
        {{ loyalty.proportion('variants.converted', 'variants.entries') }} as conversion_rate,
        {{ loyalty.wilson_lower('variants.converted', 'variants.entries') }} as conversion_rate_ci_low,
        {{ loyalty.wilson_upper('variants.converted', 'variants.entries') }} as conversion_rate_ci_high,
        variants.revenue / nullif(variants.entries, 0) as revenue_per_entry,
        case when not variants.is_control then
                {{ loyalty.proportion('variants.converted', 'variants.entries') }}
                - {{ loyalty.proportion('controls.control_converted', 'controls.control_entries') }}
        end as difference_vs_control,
        case when not variants.is_control and controls.control_entries > 0 then
                {{ loyalty.newcombe_lower('variants.converted', 'variants.entries', 'controls.control_converted', 'controls.control_entries') }}
        end as difference_ci_low,
        case when not variants.is_control and controls.control_entries > 0 then
                {{ loyalty.newcombe_upper('variants.converted', 'variants.entries', 'controls.control_converted', 'controls.control_entries') }}
        end as difference_ci_high,
        case when not variants.is_control then
                variants.revenue / nullif(variants.entries, 0) - controls.control_revenue / nullif(controls.control_entries, 0)
        end as revenue_difference_vs_control,
        {{ loyalty.welch_standard_error(
            'variants.entries', 'variants.revenue', 'variants.revenue_sum_of_squares',
            'controls.control_entries', 'controls.control_revenue', 'controls.control_revenue_sum_of_squares'
        ) }} as revenue_difference_standard_error,
        {{ loyalty.welch_degrees(
            'variants.entries', 'variants.revenue', 'variants.revenue_sum_of_squares',
            'controls.control_entries', 'controls.control_revenue', 'controls.control_revenue_sum_of_squares'
        ) }} as revenue_difference_degrees,
        sample_ratio_checks.assigned_entries,
        sample_ratio_checks.srm_chi_square,
        sample_ratio_checks.srm_degrees_of_freedom,
        {{ loyalty.chi_square_p_value('sample_ratio_checks.srm_chi_square', 'sample_ratio_checks.srm_degrees_of_freedom') }}
            as srm_p_value

    from variants
    left join controls
        on variants.workflow_id = controls.workflow_id
    left join sample_ratio_checks
        on variants.workflow_id = sample_ratio_checks.workflow_id

),

-- A challenger wins when its interval against the control lies above zero; the control wins when
-- every challenger's interval lies below zero. Nobody wins while the assignment looks broken.
winners as (

    select
        workflow_id,
        max(srm_p_value) as srm_p_value,
        sum(case when not is_control and difference_ci_low > 0 then 1 else 0 end) as challengers_better,
        sum(case when not is_control and difference_ci_high < 0 then 1 else 0 end) as challengers_worse,
        sum(case when not is_control then 1 else 0 end) as challengers

    from variants_compared
    group by workflow_id

),

winning_variants as (

    select
        variants_compared.workflow_id,
        variants_compared.variant as winning_variant,
        row_number() over (
            partition by variants_compared.workflow_id
            order by variants_compared.conversion_rate desc, variants_compared.variant_position asc
        ) as rank_among_winners

    from variants_compared
    inner join winners
        on variants_compared.workflow_id = winners.workflow_id
    where
        winners.srm_p_value >= 0.001
        and (
            (winners.challengers_better > 0 and not variants_compared.is_control and variants_compared.difference_ci_low > 0)
            or (
                winners.challengers_better = 0
                and winners.challengers > 0
                and winners.challengers_worse = winners.challengers
                and variants_compared.is_control
            )
        )

),

final as (

    select
        variants_compared.workflow_id,
        variants_compared.variant,
        cast(variants_compared.variant_position as {{ dbt.type_int() }}) as variant_position,
        variants_compared.is_control,
        variants_compared.control_variant,
        cast(variants_compared.entries as {{ dbt.type_int() }}) as entries,
        {{ loyalty.round_rate('variants_compared.expected_share') }} as expected_share,
        {{ loyalty.round_rate('variants_compared.observed_share') }} as observed_share,
        cast(variants_compared.converted as {{ dbt.type_int() }}) as converted,
        {{ loyalty.round_rate('variants_compared.conversion_rate') }} as conversion_rate,
        {{ loyalty.round_rate('variants_compared.conversion_rate_ci_low') }} as conversion_rate_ci_low,
        {{ loyalty.round_rate('variants_compared.conversion_rate_ci_high') }} as conversion_rate_ci_high,
        {{ loyalty.round_rate('variants_compared.revenue_per_entry') }} as revenue_per_entry,
        {{ loyalty.round_rate('variants_compared.difference_vs_control') }} as difference_vs_control,
        {{ loyalty.round_rate('variants_compared.difference_ci_low') }} as difference_ci_low,
        {{ loyalty.round_rate('variants_compared.difference_ci_high') }} as difference_ci_high,
        {{ loyalty.round_rate('variants_compared.revenue_difference_vs_control') }} as revenue_difference_vs_control,
        {{ loyalty.round_rate(
            'variants_compared.revenue_difference_vs_control - '
            ~ loyalty.t_quantile_975('variants_compared.revenue_difference_degrees')
            ~ ' * variants_compared.revenue_difference_standard_error'
        ) }} as revenue_difference_ci_low,
        {{ loyalty.round_rate(
            'variants_compared.revenue_difference_vs_control + '
            ~ loyalty.t_quantile_975('variants_compared.revenue_difference_degrees')
            ~ ' * variants_compared.revenue_difference_standard_error'
        ) }} as revenue_difference_ci_high,
        cast(variants_compared.assigned_entries as {{ dbt.type_int() }}) as srm_assigned_entries,
        {{ loyalty.round_rate('variants_compared.srm_chi_square') }} as srm_chi_square,
        cast(variants_compared.srm_degrees_of_freedom as {{ dbt.type_int() }}) as srm_degrees_of_freedom,
        {{ loyalty.round_rate('variants_compared.srm_p_value') }} as srm_p_value,
        coalesce(variants_compared.srm_p_value < 0.001, false) as is_sample_ratio_mismatch,
        winning_variants.winning_variant,
        coalesce(winning_variants.winning_variant = variants_compared.variant, false) as is_winner

    from variants_compared
    left join winning_variants
        on variants_compared.workflow_id = winning_variants.workflow_id
            and winning_variants.rank_among_winners = 1

)

select * from final
