-- The relations (tables, views) the warehouse does not have, of those named by %(schemas)s and %(names)s
-- (text arrays of the same length: element i of each names relation i), as "schema.name" in the order
-- given. to_regclass answers null, never an error, for a missing relation or schema.
select wanted.schema_name || '.' || wanted.relation_name as relation_name
from unnest(%(schemas)s::text[], %(names)s::text[]) with ordinality as wanted (schema_name, relation_name, position)
where to_regclass(quote_ident(wanted.schema_name) || '.' || quote_ident(wanted.relation_name)) is null
order by wanted.position
