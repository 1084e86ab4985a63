-- One load of an entity at a time, for the file's whole transaction: the apply inserts new keys without
-- ON CONFLICT, and a key in raw with loaded_at = now() must be this load's (see apply.sql). Taken before
-- the first write, so two loads never both hold a row lock and wait on each other's table lock.
-- Readers (dbt) are not blocked; other writers of the table wait for the file's commit.
lock table {target} in share row exclusive mode
