-- Every (recency, frequency-monetary) score pair from 1 to 5 falls in at least one named RFM
-- segment of the seed rfm_segments, so no buyer is left without a segment after a marketer's edit.
-- Returns the uncovered pairs.

with

scores as (

    {{ dbt.generate_series(5) }}

),

score_pairs as (

    select
        recency.generated_number as recency_score,
        frequency_monetary.generated_number as frequency_monetary_score

    from scores as recency
    cross join scores as frequency_monetary

),

rfm_segments as (

    select * from {{ ref('rfm_segments') }}

),

uncovered_pairs as (

    select
        score_pairs.recency_score,
        score_pairs.frequency_monetary_score

    from score_pairs
    left join rfm_segments
        on
            score_pairs.recency_score between rfm_segments.recency_score_min and rfm_segments.recency_score_max
            and score_pairs.frequency_monetary_score
            between rfm_segments.frequency_monetary_score_min and rfm_segments.frequency_monetary_score_max
    where rfm_segments.rfm_segment is null

)

select * from uncovered_pairs
