{# The median of a numeric column, as an aggregate (continuous: the mean of the two middle values). #}
{% macro median(column) -%}
    {{ return(adapter.dispatch('median', 'loyalty')(column)) }}
{%- endmacro %}

{% macro default__median(column) -%}
    percentile_cont(0.5) within group (order by {{ column }})
{%- endmacro %}
