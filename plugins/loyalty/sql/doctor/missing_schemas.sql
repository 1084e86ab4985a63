-- The schemas of %(names)s (a text array) the warehouse does not have, in the order given.
select wanted.schema_name
from unnest(%(names)s::text[]) with ordinality as wanted (schema_name, position)
left join pg_catalog.pg_namespace as namespaces
    on wanted.schema_name = namespaces.nspname
where namespaces.oid is null
order by wanted.position
