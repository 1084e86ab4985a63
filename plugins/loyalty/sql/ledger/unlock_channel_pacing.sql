-- Release the channel's pacing lock (lock_channel_pacing.sql).
select pg_advisory_unlock(hashtextextended('loyalty.channel_pacing:' || %(channel)s, 0))
