-- The schemas of %(names)s (a text array) the warehouse does not have, in the order given.
select wanted.schema_name
from unnest(%(names)s::text[]) with ordinality as wanted (schema_name, position)
where not exists (
    select 1
    from pg_catalog.pg_namespace as namespaces
    where namespaces.nspname = wanted.schema_name
)
order by wanted.position
