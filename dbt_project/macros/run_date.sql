{#
    The as-of date of this build, from the `run_date` var (YYYY-MM-DD; defaults to the UTC day
    the run started), as a SQL date literal. Every model that needs "today" calls this, never a
    database clock, so any past day recomputes identically.
#}
{% macro run_date() -%}
    {%- set run_date_text = var('run_date') | string | trim -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', run_date_text) -%}
        {{ exceptions.raise_compiler_error(
            "The run_date var must be a date as YYYY-MM-DD, got '" ~ run_date_text ~ "'"
        ) }}
    {%- endif -%}
    cast('{{ run_date_text }}' as date)
{%- endmacro %}
