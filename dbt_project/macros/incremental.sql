{#
    The filter of an incremental model's new rows: rows loaded since the newest row already in the
    table, minus `late_arriving_days` (a var) so that rows committed out of order, or re-delivered
    with a correction, are picked up again. unique_key + delete+insert make reprocessing idempotent.
    Rows delivered later than the window behind the newest row need `--full-refresh`; an empty table
    takes everything.
#}
{% macro loaded_since_last_run(loaded_column, target_loaded_column='loaded_at') -%}
    {{ loaded_column }} >= (
        select coalesce(
            {{ dbt.dateadd('day', -1 * var('late_arriving_days'), 'max(' ~ target_loaded_column ~ ')') }},
            cast('1900-01-01' as {{ dbt.type_timestamp() }})
        )
        from {{ this }}
    )
{%- endmacro %}

{#
    Refresh the planner's statistics of a table just built, so the models reading it in the same
    run get good plans (Postgres's autovacuum would only catch up later). A no-op elsewhere.
#}
{% macro analyze_table(relation) -%}
    {{ return(adapter.dispatch('analyze_table', 'loyalty')(relation)) }}
{%- endmacro %}

{% macro default__analyze_table(relation) -%}
{%- endmacro %}

{% macro postgres__analyze_table(relation) -%}
    analyze {{ relation }}
{%- endmacro %}

{#
    Post-hook of an incremental model that keeps one row per source row: rows deleted from the source
    (an erasure request, a reloaded table) are deleted here too. Cheap in the common case: it compares
    the two row counts and runs the anti-join only when they differ.
#}
{% macro delete_rows_missing_from(source_relation, key) -%}
    {%- if execute and is_incremental() -%}
        {%- set counts = run_query(
            "select (select count(*) from " ~ source_relation ~ "), (select count(*) from " ~ this ~ ")"
        ) -%}
        {%- if counts.rows[0][0] != counts.rows[0][1] -%}
            delete from {{ this }}
            where {{ key }} not in (select {{ key }} from {{ source_relation }} where {{ key }} is not null)
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#
    Data tests' `where:` config may name the run date as `__run_date__` (YAML configs cannot call
    macros): the tests of models that keep one slice per run date, or carry rows forward, check only
    the rows this build wrote, so a daily test costs one day, not the whole history. dbt's own
    get_where_subquery, with the placeholder replaced by loyalty.run_date().
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- set where = where | replace('__run_date__', loyalty.run_date()) -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
