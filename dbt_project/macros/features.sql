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
    A 1–5 quintile score from a rank among `row_count` ranked rows: 1 + floor(5 × (rank − 1) / (rows − 1)),
    capped at 5. Exact (numeric arithmetic on Postgres); the lowest rank scores 1 and the highest 5.
#}
{% macro quintile_score(value_rank, row_count) -%}
    cast(
        least(
            5,
            1 + floor(5.0 * ({{ value_rank }} - 1) / greatest({{ row_count }} - 1, 1))
        )
        as {{ dbt.type_int() }}
    )
{%- endmacro %}

{#
    In a query grouped by a value: the rank() its rows would get ordered by `order_by` — 1 + the number of
    rows with a value before it — so tied rows share the lowest rank of their group. Ranking the few
    distinct values instead of every row spares the database a sort of every row.
#}
{% macro rank_of_value_group(order_by) -%}
    1 + coalesce(sum(count(*)) over (order by {{ order_by }} rows between unbounded preceding and 1 preceding), 0)
{%- endmacro %}
