-- The raw customers the Great Expectations raw suite validates: those loaded after %(loaded_after)s
-- (every row when it is null, on a table's first check). The BRIN index on loaded_at keeps a daily
-- check to the day's loads.
select customers.*
from raw.customers as customers
where %(loaded_after)s::timestamptz is null or customers.loaded_at > %(loaded_after)s::timestamptz
