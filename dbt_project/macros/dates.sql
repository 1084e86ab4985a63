{#
    Date helpers the dbt cross-database macros do not cover. Each dispatches on the adapter;
    the default implementation is ANSI SQL, Postgres gets an explicit one.
#}

{# The calendar date (in UTC) of a timestamp with time zone, independent of the session time zone. #}
{% macro utc_date(timestamp_column) -%}
    {{ return(adapter.dispatch('utc_date', 'loyalty')(timestamp_column)) }}
{%- endmacro %}

{% macro default__utc_date(timestamp_column) -%}
    cast({{ timestamp_column }} as date)
{%- endmacro %}

{% macro postgres__utc_date(timestamp_column) -%}
    cast(({{ timestamp_column }} at time zone 'UTC') as date)
{%- endmacro %}

{# DuckDB casts a timestamptz to the session time zone's date: timezone() fixes UTC. #}
{% macro duckdb__utc_date(timestamp_column) -%}
    cast(timezone('UTC', {{ timestamp_column }}) as date)
{%- endmacro %}

{#
    A date as 'YYYY-MM-DD' text, whatever the session's date style. A timestamp (dbt.date_trunc returns one on
    some adapters) gives its date too: the default casts to date first, so DuckDB writes no ' 00:00:00'.
#}
{% macro date_to_iso_string(date_column) -%}
    {{ return(adapter.dispatch('date_to_iso_string', 'loyalty')(date_column)) }}
{%- endmacro %}

{% macro default__date_to_iso_string(date_column) -%}
    cast(cast({{ date_column }} as date) as {{ dbt.type_string() | lower }})
{%- endmacro %}

{% macro postgres__date_to_iso_string(date_column) -%}
    to_char({{ date_column }}, 'YYYY-MM-DD')
{%- endmacro %}
