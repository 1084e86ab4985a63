-- One row per RFM segment of the customers on the run date, plus 'all_segments': the NPS of every NPS
-- answer in the app, whatever asked for it — each customer's latest answer in the `nps_lookback_days`
-- days ending on the run date — with promoters (9–10), passives (7–8), detractors (0–6) and a
-- normal-approximation interval.

with

app_events as (

    select * from {{ ref('stg_shop__app_events') }}

),

segments as (

    select * from {{ ref('customer_segments') }}
    where run_date = {{ loyalty.run_date() }}

),

nps_answers as (

    select
        event_id,
        customer_id,
        occurred_at,
        score

    from app_events
    where
        event_type = 'nps_answered'
        and score is not null
        and occurred_date <= {{ loyalty.run_date() }}
        and occurred_date > cast({{ dbt.dateadd('day', -1 * var('nps_lookback_days'), loyalty.run_date()) }} as date)

),

nps_answers_ranked as (

    select
        customer_id,
        score,
        count(*) over (partition by customer_id) as customer_answers,
        row_number() over (
            partition by customer_id
            order by occurred_at desc, event_id desc
        ) as answer_recency_rank

    from nps_answers

),

respondents as (

    select
        nps_answers_ranked.customer_answers,
        nps_answers_ranked.score,
        case
            when segments.customer_id is null then 'unknown'
            else coalesce(segments.rfm_segment, 'none')
        end as segment

    from nps_answers_ranked
    left join segments
        on nps_answers_ranked.customer_id = segments.customer_id
    where nps_answers_ranked.answer_recency_rank = 1

),

respondents_with_pooled_rows as (

    select
        segment,
        customer_answers,
        score

    from respondents

    union all

    select
        'all_segments' as segment,
        customer_answers,
        score

    from respondents

),

segment_counts as (

    select
        segment,
        sum(customer_answers) as answers,
        count(*) as respondents,
        sum(case when score >= 9 then 1 else 0 end) as promoters,
        sum(case when score between 7 and 8 then 1 else 0 end) as passives,
        sum(case when score <= 6 then 1 else 0 end) as detractors

    from respondents_with_pooled_rows
    group by segment

),

segment_scores as (

    select
        *,
        {{ loyalty.net_promoter_score('promoters', 'detractors', 'respondents') }} as net_promoter_score,
        {{ loyalty.net_promoter_score_half_width('promoters', 'detractors', 'respondents') }}
            as net_promoter_score_half_width

    from segment_counts

),

-- Every row has respondents, so the interval exists; it is cut to the scale's bounds, −100 and 100.
final as (

    select
        segment,
        {{ loyalty.run_date() }} as run_date,
        cast(answers as {{ dbt.type_int() }}) as answers,
        cast(respondents as {{ dbt.type_int() }}) as respondents,
        cast(promoters as {{ dbt.type_int() }}) as promoters,
        cast(passives as {{ dbt.type_int() }}) as passives,
        cast(detractors as {{ dbt.type_int() }}) as detractors,
        {{ loyalty.round_rate('net_promoter_score') }} as nps,
        {{ loyalty.round_rate('greatest(net_promoter_score - net_promoter_score_half_width, -100)') }} as nps_ci_low,
        {{ loyalty.round_rate('least(net_promoter_score + net_promoter_score_half_width, 100)') }} as nps_ci_high

    from segment_scores

)

select * from final
