-- One row per workflow and variant (holdout rows form the variant 'holdout'): funnel counts,
-- conversions, revenue and the lift of each treated variant against the workflow's holdout,
-- with a 95% Newcombe hybrid score interval (macros/confidence_intervals.sql).

with

sends as (

    select * from {{ ref('fct_sends') }}

),

sends_with_arm as (

    select
        *,
        case when is_holdout then 'holdout' else variant end as arm

    from sends

),

workflow_variants as (

    select
        workflow_id,
        arm as variant,
        max(case when is_holdout then 1 else 0 end) = 1 as is_holdout,
        count(*) as audience,
        sum(case when is_sent then 1 else 0 end) as sent,
        sum(case when is_delivered then 1 else 0 end) as delivered,
        sum(case when is_bounced then 1 else 0 end) as bounced,
        sum(case when is_opened then 1 else 0 end) as opened,
        sum(case when is_clicked then 1 else 0 end) as clicked,
        sum(case when is_unsubscribed then 1 else 0 end) as unsubscribed,
        sum(case when is_converted then 1 else 0 end) as converted,
        sum(revenue) as revenue

    from sends_with_arm
    group by workflow_id, arm

),

holdouts as (

    select
        workflow_id,
        audience as holdout_audience,
        converted as holdout_converted

    from workflow_variants
    where is_holdout

),

variants_joined_to_holdout as (

    select
        workflow_variants.*,
        holdouts.holdout_audience,
        holdouts.holdout_converted

    from workflow_variants
    left join holdouts
        on workflow_variants.workflow_id = holdouts.workflow_id

),

variants_with_lift as (

    select
        workflow_id,
        variant,
        is_holdout,
        audience,
        sent,
        delivered,
        bounced,
        opened,
        clicked,
        unsubscribed,
        converted,
        revenue,
        {{ loyalty.proportion('converted', 'audience') }} as conversion_rate,
        revenue / nullif(audience, 0) as revenue_per_customer,
        holdout_audience,
        holdout_converted,
        {{ loyalty.proportion('holdout_converted', 'holdout_audience') }} as holdout_conversion_rate,
        case when not is_holdout then
            {{ loyalty.proportion('converted', 'audience') }}
            - {{ loyalty.proportion('holdout_converted', 'holdout_audience') }}
        end as absolute_lift,
        case when not is_holdout and holdout_audience > 0 then
            {{ loyalty.newcombe_lower('converted', 'audience', 'holdout_converted', 'holdout_audience') }}
        end as lift_ci_low,
        case when not is_holdout and holdout_audience > 0 then
            {{ loyalty.newcombe_upper('converted', 'audience', 'holdout_converted', 'holdout_audience') }}
        end as lift_ci_high

    from variants_joined_to_holdout

),

final as (

    select
        workflow_id,
        variant,
        is_holdout,
        cast(audience as {{ dbt.type_int() }}) as audience,
        cast(sent as {{ dbt.type_int() }}) as sent,
        cast(delivered as {{ dbt.type_int() }}) as delivered,
        cast(bounced as {{ dbt.type_int() }}) as bounced,
        cast(opened as {{ dbt.type_int() }}) as opened,
        cast(clicked as {{ dbt.type_int() }}) as clicked,
        cast(unsubscribed as {{ dbt.type_int() }}) as unsubscribed,
        cast(converted as {{ dbt.type_int() }}) as converted,
        revenue,
        {{ loyalty.round_rate('conversion_rate') }} as conversion_rate,
        round(revenue_per_customer, 2) as revenue_per_customer,
        cast(holdout_audience as {{ dbt.type_int() }}) as holdout_audience,
        cast(holdout_converted as {{ dbt.type_int() }}) as holdout_converted,
        {{ loyalty.round_rate('holdout_conversion_rate') }} as holdout_conversion_rate,
        {{ loyalty.round_rate('absolute_lift') }} as absolute_lift,
        {{ loyalty.round_rate('lift_ci_low') }} as lift_ci_low,
        {{ loyalty.round_rate('lift_ci_high') }} as lift_ci_high,
        {{ loyalty.round_rate('absolute_lift / nullif(holdout_conversion_rate, 0)') }} as relative_lift

    from variants_with_lift

)

select * from final
