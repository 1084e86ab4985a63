-- Serialise loads of the same content (two schedulers, a retry while the first still runs) until commit.
select pg_advisory_xact_lock(hashtextextended(%(entity)s || ':' || %(checksum)s, 0))
