-- One load of an entity at a time (until commit): the apply inserts new keys without ON CONFLICT, so a
-- second loader inserting the same new key meanwhile must wait, not fail. Readers (dbt) are not blocked.
lock table {target} in share row exclusive mode
