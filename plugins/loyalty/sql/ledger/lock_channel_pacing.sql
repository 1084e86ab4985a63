-- One rate-limited channel sends one batch at a time, across every send task and worker that
-- shares this warehouse: a session-level advisory lock per channel, held from the claim to the
-- recorded outcomes, and released on unlock or when the task's connection ends (a killed task
-- holds nothing). Each batch is paced at the channel's messages-per-second inside it, so the
-- limit holds for the channel as a whole, not per Airflow pool slot.
select pg_advisory_lock(hashtextextended('loyalty.channel_pacing:' || %(channel)s, 0))
