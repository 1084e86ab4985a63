-- One row per survey workflow (`nps_survey_workflows`: the feedback request), variant and RFM segment of
-- the customer on the send's run date, plus rows pooling the variants ('all_variants'), the segments
-- ('all_segments') and both: surveys sent, responses (an NPS answer within the survey's response window),
-- the response rate with a Wilson interval, promoters (9–10), passives (7–8), detractors (0–6) and the NPS
-- with a normal-approximation interval. Per survey (ledger row): a customer surveyed twice counts twice.

with

sends as (

    select * from {{ ref('fct_sends') }}

),

app_events as (

    select * from {{ ref('stg_shop__app_events') }}

),

segments as (

    select * from {{ ref('customer_segments') }}

),

surveys as (

    select
        send_id,
        workflow_id,
        customer_id,
        cycle_key,
        run_date,
        variant,
        is_delivered,
        attribution_window_end_date,
        is_attribution_window_closed

    from sends
    where
        is_sent
        and workflow_id in (
            {%- for workflow_id in var('nps_survey_workflows') %}
                '{{ workflow_id | replace("'", "''") }}'{{ "," if not loop.last }}
            {%- endfor %}
        )

),

nps_answers as (

    select
        event_id,
        customer_id,
        occurred_at,
        occurred_date,
        order_id,
        score

    from app_events
    where
        event_type = 'nps_answered'
        and score is not null
        and occurred_date <= {{ loyalty.run_date() }}

),

-- Answers in a survey's response window — after the send's run date (the message goes out the day after
-- it), up to the workflow's attribution window later — and about the survey's order when they name one.
-- An answer in the windows of two surveys goes to the later one.
survey_answers as (

    select
        surveys.send_id,
        nps_answers.event_id,
        nps_answers.occurred_at,
        nps_answers.score,
        row_number() over (
            partition by nps_answers.event_id
            order by surveys.run_date desc, surveys.send_id desc
        ) as survey_rank

    from surveys
    inner join nps_answers
        on
            surveys.customer_id = nps_answers.customer_id
            and nps_answers.occurred_date > surveys.run_date
            and nps_answers.occurred_date <= surveys.attribution_window_end_date
            and (nps_answers.order_id is null or nps_answers.order_id = surveys.cycle_key)

),

-- A survey's response is its first answer.
survey_answers_ranked as (

    select
        send_id,
        score,
        row_number() over (
            partition by send_id
            order by occurred_at asc, event_id asc
        ) as answer_rank

    from survey_answers
    where survey_rank = 1

),

surveys_with_responses as (

    select
        surveys.workflow_id,
        surveys.variant,
        case
            when segments.customer_id is null then 'unknown'
            else coalesce(segments.rfm_segment, 'none')
        end as segment,
        surveys.is_delivered,
        surveys.is_attribution_window_closed,
        survey_answers_ranked.send_id is not null as is_responded,
        survey_answers_ranked.score

    from surveys
    left join segments
        on
            surveys.customer_id = segments.customer_id
            and surveys.run_date = segments.run_date
    left join survey_answers_ranked
        on
            surveys.send_id = survey_answers_ranked.send_id
            and survey_answers_ranked.answer_rank = 1

),

surveys_with_pooled_rows as (

    select
        workflow_id,
        variant,
        segment,
        is_delivered,
        is_attribution_window_closed,
        is_responded,
        score

    from surveys_with_responses

    union all

    select
        workflow_id,
        'all_variants' as variant,
        segment,
        is_delivered,
        is_attribution_window_closed,
        is_responded,
        score

    from surveys_with_responses

    union all

    select
        workflow_id,
        variant,
        'all_segments' as segment,
        is_delivered,
        is_attribution_window_closed,
        is_responded,
        score

    from surveys_with_responses

    union all

    select
        workflow_id,
        'all_variants' as variant,
        'all_segments' as segment,
        is_delivered,
        is_attribution_window_closed,
        is_responded,
        score

    from surveys_with_responses

),

survey_counts as (

    select
        workflow_id,
        variant,
        segment,
        count(*) as surveys_sent,
        sum(case when is_delivered then 1 else 0 end) as surveys_delivered,
        sum(case when is_attribution_window_closed then 0 else 1 end) as surveys_in_open_window,
        sum(case when is_responded then 1 else 0 end) as responses,
        sum(case when score >= 9 then 1 else 0 end) as promoters,
        sum(case when score between 7 and 8 then 1 else 0 end) as passives,
        sum(case when score <= 6 then 1 else 0 end) as detractors

    from surveys_with_pooled_rows
    group by workflow_id, variant, segment

),

survey_scores as (

    select
        *,
        {{ loyalty.net_promoter_score('promoters', 'detractors', 'responses') }} as net_promoter_score,
        {{ loyalty.net_promoter_score_half_width('promoters', 'detractors', 'responses') }}
            as net_promoter_score_half_width

    from survey_counts

),

-- The interval is cut to the scale's bounds, −100 and 100.
survey_scores_with_interval as (

    select
        *,
        case when responses > 0 then
                greatest(net_promoter_score - net_promoter_score_half_width, -100)
        end as net_promoter_score_ci_low,
        case when responses > 0 then
                least(net_promoter_score + net_promoter_score_half_width, 100)
        end as net_promoter_score_ci_high

    from survey_scores

),

final as (

    select
        workflow_id,
        variant,
        segment,
        cast(surveys_sent as {{ dbt.type_int() }}) as surveys_sent,
        cast(surveys_delivered as {{ dbt.type_int() }}) as surveys_delivered,
        cast(surveys_in_open_window as {{ dbt.type_int() }}) as surveys_in_open_window,
        cast(responses as {{ dbt.type_int() }}) as responses,
        {{ loyalty.round_rate(loyalty.proportion('responses', 'surveys_sent')) }} as response_rate,
        {{ loyalty.round_rate(loyalty.wilson_lower('responses', 'surveys_sent')) }} as response_rate_ci_low,
        {{ loyalty.round_rate(loyalty.wilson_upper('responses', 'surveys_sent')) }} as response_rate_ci_high,
        cast(promoters as {{ dbt.type_int() }}) as promoters,
        cast(passives as {{ dbt.type_int() }}) as passives,
        cast(detractors as {{ dbt.type_int() }}) as detractors,
        {{ loyalty.round_rate('net_promoter_score') }} as nps,
        {{ loyalty.round_rate('net_promoter_score_ci_low') }} as nps_ci_low,
        {{ loyalty.round_rate('net_promoter_score_ci_high') }} as nps_ci_high

    from survey_scores_with_interval

)

select * from final
