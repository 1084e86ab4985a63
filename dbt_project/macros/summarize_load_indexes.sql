{#
    on-run-start: bring the block-range (BRIN) indexes on the shop sources' `loaded_at` up to date
    before anything reads a load window. Postgres summarizes a filled range in the background
    (autosummarize) only as far as its small work queue allows, and a bulk load (a history backfill,
    a re-delivery) leaves thousands of ranges unsummarized until the next VACUUM; every unsummarized
    range matches every query, so each windowed read of the day (contract models, windowed tests,
    incremental models) scans the whole table: 10 M order lines on the bench. Summarizing what is new
    costs milliseconds when little is. The indexes are the application's (plugins/loyalty/sql/migrations/);
    tables without one are skipped. A no-op off Postgres.
#}
{% macro summarize_load_indexes() -%}
    {{ return(adapter.dispatch('summarize_load_indexes', 'loyalty')()) }}
{%- endmacro %}

{% macro default__summarize_load_indexes() -%}
    select 1
{%- endmacro %}

{% macro postgres__summarize_load_indexes() -%}
    {%- set tables = [] -%}
    {%- if execute -%}
        {%- for node in graph.sources.values() if node.source_name == 'shop' -%}
            {%- do tables.append(node.schema ~ '.' ~ node.identifier) -%}
        {%- endfor -%}
    {%- endif -%}
    select brin_summarize_new_values(index_entries.indexrelid)
    from pg_catalog.pg_index as index_entries
    inner join pg_catalog.pg_class as index_class
        on index_entries.indexrelid = index_class.oid
    inner join pg_catalog.pg_am as access_methods
        on index_class.relam = access_methods.oid
    where
        access_methods.amname = 'brin'
        and index_entries.indrelid in (
            select to_regclass(table_name)
            from unnest(array[{% for table in tables %}'{{ table }}'{{ ', ' if not loop.last }}{% endfor %}]::text[])
                as shop_tables (table_name)
        )
{%- endmacro %}
