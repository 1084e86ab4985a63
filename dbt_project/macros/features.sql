{#
    The days of silence after which a customer counts as lapsed: the longer of a floor
    (`win_back_min_days_since_last_order`) and a multiple (`win_back_interpurchase_multiplier`)
    of the customer's own expected interval. Win-back eligibility and the lifecycle stage use it.
#}
{% macro lapse_threshold_days(expected_interpurchase_days) -%}
    (case
        when {{ var('win_back_interpurchase_multiplier') }} * {{ expected_interpurchase_days }}
            > {{ var('win_back_min_days_since_last_order') }}
            then {{ var('win_back_interpurchase_multiplier') }} * {{ expected_interpurchase_days }}
        else {{ var('win_back_min_days_since_last_order') }}
    end)
{%- endmacro %}

{#
    A 1–5 quintile score by rank within the query's rows, ordered by `order_by` (ascending = higher
    score for higher values): 1 + floor(5 × (rank − 1) / (rows − 1)), capped at 5. Exact (numeric
    arithmetic on Postgres), deterministic under ties (tied rows share the lowest rank of their group).
#}
{% macro quintile_score(order_by) -%}
    cast(
        least(
            5,
            1 + floor(5.0 * (rank() over (order by {{ order_by }}) - 1) / greatest(count(*) over () - 1, 1))
        )
        as {{ dbt.type_int() }}
    )
{%- endmacro %}
