-- provisiond SQLite schema, version 2: the per-minute rollup of event counts that
-- EventStats, TopErrors and Summary read instead of counting events.
--
--   * One row per Unix minute (floor(time / 60 s), UTC) and combination of job, identity
--     type, action, status and error code, with the number of events. Absent identity
--     types and error codes are '' here (not NULL: they are part of the key).
--   * Commit adds a batch's counts in the transaction that inserts its events;
--     PruneEvents subtracts the counts of the events it deletes in the transaction that
--     deletes them, and removes the rows that reach zero. The rollup is therefore always
--     exactly the count of the events table.
--   * WITHOUT ROWID: the rows live in the primary key's b-tree, ordered by minute, so a
--     time window is one range scan.

CREATE TABLE event_stats (
    minute        INTEGER NOT NULL,
    job_id        TEXT    NOT NULL,
    identity_type TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    error_code    TEXT    NOT NULL,
    count         INTEGER NOT NULL,
    PRIMARY KEY (minute, job_id, identity_type, action, status, error_code)
) STRICT, WITHOUT ROWID;

-- Backfill from the events already stored. The minute is a floor division that does not
-- overflow for the zero time (-9223372036854775808) and rounds negative times down.
INSERT INTO event_stats (minute, job_id, identity_type, action, status, error_code, count)
SELECT CASE WHEN time >= 0 THEN time / 60000000000 ELSE (time + 1) / 60000000000 - 1 END,
       job_id, coalesce(identity_type, ''), action, status, coalesce(error_code, ''), count(*)
FROM events
GROUP BY 1, 2, 3, 4, 5, 6;
