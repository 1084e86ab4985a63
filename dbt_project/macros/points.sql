{#
    The points totals of a group of fct_points_ledger rows: earned, of which granted by reward steps,
    expired (as a positive number) and the net change (`net_name`), so a customer's balance and a day's
    movement are summed the same way.
#}
{% macro points_totals(net_name) -%}
    sum(case when event_type = 'earned' then points else 0 end) as points_earned,
        sum(case when event_type = 'earned' and earned_by = 'reward' then points else 0 end) as points_rewarded,
        -sum(case when event_type = 'expired' then points else 0 end) as points_expired,
        sum(points) as {{ net_name }}
{%- endmacro %}
