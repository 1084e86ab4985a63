-- One row per workflow and arm (each variant, 'holdout', 'global_holdout') plus one pooled row per
-- workflow, 'all_variants', of every treated entry: the sufficient statistics of the incrementality
-- and A/B comparisons (entries, conversions, revenue and its sum of squares), per journey entry.

with

entries as (

    select * from {{ ref('fct_journey_entries') }}

),

entries_with_pooled_arm as (

    select
        workflow_id,
        arm,
        is_delivered,
        is_converted,
        revenue

    from entries

    union all

    select
        workflow_id,
        'all_variants' as arm,
        is_delivered,
        is_converted,
        revenue

    from entries
    where not is_holdout

),

final as (

    select
        workflow_id,
        arm,
        count(*) as entries,
        sum(case when is_delivered then 1 else 0 end) as delivered_entries,
        sum(case when is_converted then 1 else 0 end) as converted,
        sum(revenue) as revenue,
        sum(revenue * revenue) as revenue_sum_of_squares

    from entries_with_pooled_arm
    group by workflow_id, arm

)

select * from final
