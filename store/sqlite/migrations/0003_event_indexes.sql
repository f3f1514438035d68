-- provisiond SQLite schema, version 3: event indexes for the query API at millions of
-- events.
--
--   * The identity indexes (source and target id, both display names) carry the time:
--     an identity's history reads each of them newest (or oldest) first and stops at the
--     page size, instead of reading every event of a display name several users share and
--     sorting them.
--   * events_action_time drives pages filtered by an action (creates, deletes, disables
--     are a small share of the events) like events_status_time does for statuses.

DROP INDEX events_source;
DROP INDEX events_target;
DROP INDEX events_source_name;
DROP INDEX events_target_name;
CREATE INDEX events_source      ON events (source_id, time)      WHERE source_id IS NOT NULL;
CREATE INDEX events_target      ON events (target_id, time)      WHERE target_id IS NOT NULL;
CREATE INDEX events_source_name ON events (source_name_lc, time) WHERE source_name_lc IS NOT NULL;
CREATE INDEX events_target_name ON events (target_name_lc, time) WHERE target_name_lc IS NOT NULL;
CREATE INDEX events_action_time ON events (action, time);
