{#
    Use a folder's custom schema verbatim instead of dbt's default `<target_schema>_<custom_schema>`.

    dbt_project.yml gives staging models the schema `staging`, intermediate models `intermediate`
    and marts `marts`; with this override they land in exactly those schemas, so Airflow DAGs,
    Great Expectations suites and dashboards can name `marts.dim_customers` in every environment.
    Models without a custom schema land in the target's schema (`analytics` in profiles.yml).
    Isolate environments by database, not by schema prefix.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
