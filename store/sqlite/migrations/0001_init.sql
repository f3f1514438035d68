-- provisiond SQLite schema, version 1.
--
-- Conventions:
--   * Times are INTEGER Unix nanoseconds (UTC); the zero time is -9223372036854775808
--     (store/internal/codec.Nanos).
--   * Each record is also kept whole as JSON (the *_json / state / event columns); the other
--     columns exist to be indexed and filtered on, and are derived from the record.
--   * Optional indexed text columns hold NULL rather than '' so that partial indexes
--     (WHERE col IS NOT NULL) skip them.
--   * *_lc columns hold a Unicode lower-cased copy (computed in Go) for case-insensitive
--     exact and prefix matching with plain BINARY range scans.
--   * No foreign keys: events outlive their cycles (retention prunes them separately) and
--     jobs are configuration, not rows; the engine writes every related record in one
--     batch transaction instead.

CREATE TABLE job_state (
    job_id      TEXT    NOT NULL PRIMARY KEY,
    status_code TEXT    NOT NULL,
    updated     INTEGER NOT NULL,
    state       TEXT    NOT NULL -- JSON of provisioning.JobState
) STRICT;

CREATE TABLE cycles (
    job_id   TEXT    NOT NULL,
    cycle_id TEXT    NOT NULL,
    type     TEXT    NOT NULL,
    began    INTEGER NOT NULL,
    ended    INTEGER,
    state    TEXT    NOT NULL,
    trace_id TEXT,
    cycle    TEXT    NOT NULL, -- JSON of provisioning.Cycle
    PRIMARY KEY (job_id, cycle_id)
) STRICT;
CREATE INDEX cycles_job_began ON cycles (job_id, began);

CREATE TABLE events (
    seq                 INTEGER PRIMARY KEY, -- insertion order (rowid)
    id                  TEXT    NOT NULL UNIQUE,
    job_id              TEXT    NOT NULL,
    cycle_id            TEXT,
    change_id           TEXT,
    time                INTEGER NOT NULL, -- activityDateTime
    action              TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    error_code          TEXT,
    identity_type       TEXT,
    source_id           TEXT,
    source_display_name TEXT,
    source_name_lc      TEXT,
    target_id           TEXT,
    target_display_name TEXT,
    target_name_lc      TEXT, -- NULL when equal to source_name_lc
    trace_id            TEXT,
    duration_ms         INTEGER NOT NULL,
    event               TEXT    NOT NULL -- JSON of provisioning.Event (steps, modified properties)
) STRICT;
CREATE INDEX events_time        ON events (time);
CREATE INDEX events_job_time    ON events (job_id, time);
CREATE INDEX events_status_time ON events (status, time);
CREATE INDEX events_cycle_time  ON events (cycle_id, time) WHERE cycle_id IS NOT NULL;
CREATE INDEX events_change      ON events (change_id) WHERE change_id IS NOT NULL;
CREATE INDEX events_source      ON events (source_id) WHERE source_id IS NOT NULL;
CREATE INDEX events_target      ON events (target_id) WHERE target_id IS NOT NULL;
CREATE INDEX events_source_name ON events (source_name_lc) WHERE source_name_lc IS NOT NULL;
CREATE INDEX events_target_name ON events (target_name_lc) WHERE target_name_lc IS NOT NULL;
CREATE INDEX events_error_time  ON events (error_code, time) WHERE error_code IS NOT NULL;

CREATE TABLE links (
    job_id       TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    source_id    TEXT    NOT NULL,
    target_id    TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    hash         TEXT    NOT NULL,
    exported     TEXT, -- JSON object of connectors.Attributes, NULL for nil
    members      TEXT, -- JSON array of target IDs, NULL for nil
    disabled     INTEGER NOT NULL,
    updated      INTEGER NOT NULL,
    PRIMARY KEY (job_id, type, source_id)
) STRICT;
CREATE INDEX links_target ON links (job_id, type, target_id);

CREATE TABLE escrows (
    job_id        TEXT    NOT NULL,
    type          TEXT    NOT NULL,
    source_id     TEXT    NOT NULL,
    next_attempt  INTEGER NOT NULL,
    first_failure INTEGER NOT NULL,
    attempts      INTEGER NOT NULL,
    error_code    TEXT    NOT NULL,
    reference     INTEGER NOT NULL,
    escrow        TEXT    NOT NULL, -- JSON of provisioning.Escrow
    PRIMARY KEY (job_id, type, source_id)
) STRICT;
CREATE INDEX escrows_due ON escrows (job_id, next_attempt);

CREATE TABLE pending_refs (
    job_id        TEXT    NOT NULL,
    type          TEXT    NOT NULL,
    source_id     TEXT    NOT NULL,
    attribute     TEXT    NOT NULL,
    ref_source_id TEXT    NOT NULL,
    created       INTEGER NOT NULL,
    PRIMARY KEY (job_id, type, source_id, attribute)
) STRICT;
CREATE INDEX pending_refs_created ON pending_refs (job_id, created);

CREATE TABLE staged_ops (
    job_id    TEXT    NOT NULL,
    type      TEXT    NOT NULL,
    source_id TEXT    NOT NULL,
    target_id TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    cycle_id  TEXT    NOT NULL,
    created   INTEGER NOT NULL,
    op        TEXT    NOT NULL, -- JSON of provisioning.StagedOp (with its event)
    PRIMARY KEY (job_id, type, source_id)
) STRICT;
CREATE INDEX staged_ops_created ON staged_ops (job_id, created);

CREATE TABLE job_history (
    seq      INTEGER PRIMARY KEY,
    job_id   TEXT    NOT NULL,
    time     INTEGER NOT NULL,
    old_code TEXT    NOT NULL,
    new_code TEXT    NOT NULL,
    reason   TEXT,
    change   TEXT    NOT NULL -- JSON of provisioning.StatusChange
) STRICT;
CREATE INDEX job_history_job_time ON job_history (job_id, time);

CREATE TABLE audit (
    seq    INTEGER PRIMARY KEY,
    id     TEXT,
    time   INTEGER NOT NULL,
    job_id TEXT,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    result TEXT    NOT NULL,
    entry  TEXT    NOT NULL -- JSON of provisioning.AuditEntry
) STRICT;
CREATE INDEX audit_time     ON audit (time);
CREATE INDEX audit_job_time ON audit (job_id, time) WHERE job_id IS NOT NULL;
