{#
    The filter of an incremental model's new rows: rows loaded since the newest row already in the
    table, minus `late_arriving_days` (a var) so that rows committed out of order, or re-delivered
    with a correction, are picked up again. unique_key + delete+insert make reprocessing idempotent.
    Rows delivered later than the window behind the newest row need `--full-refresh`; an empty table
    takes everything.
    The newest row is read when the model runs and written into its SQL as a literal (like
    macros/carry_forward.sql), not as a subquery: the database then estimates how few rows a day
    brings and looks them up by index instead of hashing whole tables. An index on the model's
    `target_loaded_column` makes reading it free.
#}
{% macro loaded_since_last_run(loaded_column, target_loaded_column='loaded_at') -%}
    {%- set newest = none -%}
    {%- if execute and is_incremental() -%}
        {%- set newest = run_query(
            'select cast(max(' ~ target_loaded_column ~ ') as ' ~ dbt.type_string() ~ ') from ' ~ this
        ).columns[0].values()[0] -%}
    {%- endif -%}
    {%- if newest is none -%}
        {{ loaded_column }} >= cast('1900-01-01' as {{ dbt.type_timestamp() }})
    {%- else -%}
        {{ loaded_column }} >= {{ dbt.dateadd(
            'day', -1 * var('late_arriving_days'), loyalty.timestamp_with_time_zone_literal(newest)
        ) | trim }}
    {%- endif -%}
{%- endmacro %}

{#
    The rows an incremental run of a contract model (int_*_validated) reprocesses: those loaded since
    its newest row minus the late-arriving window, and every row still quarantined (re-checked, so an
    order that arrived before its customer is released when the customer lands). Two selections
    joined by a union, each one an index or a filter the database can estimate, instead of one `or`
    with a subquery that makes it read every row. `upstream` is the staging model, `key` its key.
#}
{% macro rows_to_revalidate(upstream, key) -%}
    select * from {{ upstream }}
    where {{ loyalty.loaded_since_last_run('loaded_at') }}

    union

    select * from {{ upstream }}
    where {{ key }} in (
        select quarantined.{{ key }} from {{ this }} as quarantined
        where quarantined.quarantine_rule is not null
    )
{%- endmacro %}

{#
    Post-hook of the contract models: an index of the quarantined rows only (a few among millions),
    so rows_to_revalidate finds them without reading the table. Created once per table; Postgres names
    it (a name of our own would collide, during a --full-refresh, with the index of the table being
    replaced). A no-op off Postgres.
#}
{% macro index_quarantined_rows(key) -%}
    {{ return(adapter.dispatch('index_quarantined_rows', 'loyalty')(key)) }}
{%- endmacro %}

{% macro default__index_quarantined_rows(key) -%}
{%- endmacro %}

{% macro postgres__index_quarantined_rows(key) -%}
    {%- if execute -%}
        {%- set existing = run_query(
            "select count(*) from pg_indexes where schemaname = '" ~ this.schema ~ "' and tablename = '"
            ~ this.identifier ~ "' and indexdef like '%WHERE (quarantine_rule IS NOT NULL)%'"
        ).columns[0].values()[0] -%}
        {%- if existing == 0 -%}
            create index on {{ this }} ({{ key }}) where quarantine_rule is not null
        {%- endif -%}
    {%- endif -%}
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
            where {{ key }} not in (
                select {{ key }} from {{ source_relation }}
                where {{ key }} is not null
            )
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#
    Data tests' `where:` config may name the run date as `__run_date__` (YAML configs cannot call
    macros): the tests of models that keep one slice per run date, or carry rows forward, check only
    the rows this build wrote, so a daily test costs one day, not the whole history. dbt's own
    get_where_subquery, with the placeholders replaced (loyalty.resolve_test_placeholders).
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- set filtered -%}
            (
                select * from {{ relation }}
                where {{ loyalty.resolve_test_placeholders(where) }}
            ) as dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#
    The placeholders of data tests' `where:` (unique_where_recent's `recent:` takes the second):
    - `__run_date__`: loyalty.run_date();
    - `__loaded_since_previous_build__`: a condition on the row's `loaded_at`, true for the rows loaded
      since the previous build minus `late_arriving_days` — the late-arriving window of the incremental
      models — and for every row on --full-refresh or when there is no previous build. The staging
      views and the data contract test only those rows on a daily build: the rows older than the
      window were checked by the build that first saw them.
#}
{% macro resolve_test_placeholders(condition) -%}
    {%- set condition = condition | replace('__run_date__', loyalty.run_date()) -%}
    {%- if '__loaded_since_previous_build__' in condition -%}
        {%- set condition = condition | replace(
            '__loaded_since_previous_build__', loyalty.loaded_since_previous_build_condition('loaded_at')
        ) -%}
    {%- endif -%}
    {{- return(condition) -}}
{%- endmacro %}

{% macro loaded_since_previous_build_condition(loaded_column) -%}
    {%- set loaded_through = loyalty.previous_build_loaded_through() -%}
    {%- if loaded_through is none -%}
        {{- return('(1 = 1)') -}}
    {%- endif -%}
    {{- return('(' ~ loyalty.loaded_since_previous_build(loaded_column, loyalty.timestamp_with_time_zone_literal(loaded_through)) ~ ')') -}}
{%- endmacro %}

{#
    How far the previous build's inputs were loaded (text), or none on --full-refresh or without a
    previous build: the newest inputs_loaded_through of int_customer_favourite_categories
    (macros/carry_forward.sql). That model reads every staging model and contract model of the
    customer features, so `dbt build` runs it only after all their tests: while those tests run it
    still holds the previous build's state, and a build whose contract tests fail does not move it on.
    Looked up in the graph, not with ref(), which would make the tests wait for it. A plain
    `dbt test` after a build checks the window of the latest build.
#}
{% macro previous_build_loaded_through() -%}
    {%- if not execute or flags.FULL_REFRESH -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.name == 'int_customer_favourite_categories' -%}
            {%- set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) -%}
            {%- if relation is not none -%}
                {%- set columns = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
                {%- if 'inputs_loaded_through' in columns -%}
                    {{- return(run_query(
                        'select cast(max(inputs_loaded_through) as ' ~ dbt.type_string() ~ ') from ' ~ relation
                    ).columns[0].values()[0]) -}}
                {%- endif -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(none) -}}
{%- endmacro %}
