-- provisiond PostgreSQL schema, version 1.
--
-- Conventions (the same as the SQLite store's, so that both answer alike):
--   * Times that are indexed, compared or ordered are bigint Unix nanoseconds (UTC); the
--     zero time is -9223372036854775808 (store/internal/codec.Nanos). timestamptz keeps
--     microseconds only, and keyset cursors compare the nanoseconds the records carry.
--     The lease tables, which only the database's own clock writes, use timestamptz.
--   * Each record is also kept whole as JSON text (the *_json / state / event columns;
--     text rather than jsonb: it is stored and returned verbatim, never parsed by the
--     server, and may hold any string Go can encode). Cast to jsonb for ad-hoc queries.
--     The other columns exist to be indexed and filtered on, and are derived from it.
--   * Text that is compared or ordered is COLLATE "C": byte-wise, the order Go's strings
--     compare in, whatever the database's default collation.
--   * Optional indexed text columns hold NULL rather than '' so that partial indexes
--     (WHERE col IS NOT NULL) skip them.
--   * *_lc columns hold a Unicode lower-cased copy (computed in Go) for case-insensitive
--     exact and prefix matching with plain b-tree range scans.
--   * No foreign keys: events outlive their cycles (retention prunes them separately) and
--     jobs are configuration, not rows; the engine writes every related record in one
--     batch transaction instead.

CREATE TABLE job_state (
    job_id      text COLLATE "C" NOT NULL PRIMARY KEY,
    status_code text   NOT NULL,
    updated     bigint NOT NULL,
    state       text   NOT NULL -- JSON of provisioning.JobState
);

CREATE TABLE cycles (
    job_id   text COLLATE "C" NOT NULL,
    cycle_id text COLLATE "C" NOT NULL,
    type     text   NOT NULL,
    began    bigint NOT NULL,
    ended    bigint,
    state    text   NOT NULL,
    trace_id text,
    cycle    text   NOT NULL, -- JSON of provisioning.Cycle
    PRIMARY KEY (job_id, cycle_id)
);
CREATE INDEX cycles_job_began ON cycles (job_id, began);

CREATE TABLE events (
    id                  text COLLATE "C" NOT NULL PRIMARY KEY,
    job_id              text COLLATE "C" NOT NULL,
    cycle_id            text COLLATE "C",
    change_id           text COLLATE "C",
    time                bigint NOT NULL, -- activityDateTime
    action              text COLLATE "C" NOT NULL,
    status              text COLLATE "C" NOT NULL,
    error_code          text COLLATE "C",
    identity_type       text COLLATE "C",
    source_id           text COLLATE "C",
    source_display_name text,
    source_name_lc      text COLLATE "C",
    target_id           text COLLATE "C",
    target_display_name text,
    target_name_lc      text COLLATE "C", -- NULL when equal to source_name_lc
    trace_id            text,
    duration_ms         bigint NOT NULL,
    event               text   NOT NULL -- JSON of provisioning.Event (steps, modified properties)
);
-- Every ordered index ends with time: a query filtered on the leading column reads its
-- page in time order and stops at the limit (ties on time are put in id order by an
-- incremental sort of the few events sharing a timestamp).
CREATE INDEX events_time        ON events (time);
CREATE INDEX events_job_time    ON events (job_id, time);
CREATE INDEX events_status_time ON events (status, time);
CREATE INDEX events_cycle_time  ON events (cycle_id, time) WHERE cycle_id IS NOT NULL;
CREATE INDEX events_change      ON events (change_id) WHERE change_id IS NOT NULL;
CREATE INDEX events_action_time ON events (action, time);
CREATE INDEX events_error_time  ON events (error_code, time) WHERE error_code IS NOT NULL;
-- The identity indexes carry the time too: an identity's history reads each of them
-- newest (or oldest) first and stops at the page size, however many events it has.
CREATE INDEX events_source      ON events (source_id, time) WHERE source_id IS NOT NULL;
CREATE INDEX events_target      ON events (target_id, time) WHERE target_id IS NOT NULL;
CREATE INDEX events_source_name ON events (source_name_lc, time) WHERE source_name_lc IS NOT NULL;
CREATE INDEX events_target_name ON events (target_name_lc, time) WHERE target_name_lc IS NOT NULL;
-- An event's JSON (~2 KB) is just over the size PostgreSQL compresses rows at: lz4 does it
-- at a fraction of pglz's cost. Servers built without lz4 keep pglz.
DO $$
BEGIN
    ALTER TABLE events ALTER COLUMN event SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN
    NULL;
END
$$;

-- event_stats is the per-minute rollup of events that EventStats, TopErrors and Summary
-- read (store/internal/stats): one row per minute and combination of job, identity type,
-- action, status and error code ('' for none), maintained by Commit in the same
-- transaction as the events it counts, and pruned with them.
CREATE TABLE event_stats (
    minute        bigint NOT NULL, -- Unix minutes
    job_id        text COLLATE "C" NOT NULL,
    identity_type text COLLATE "C" NOT NULL,
    action        text COLLATE "C" NOT NULL,
    status        text COLLATE "C" NOT NULL,
    error_code    text COLLATE "C" NOT NULL,
    count         bigint NOT NULL,
    PRIMARY KEY (minute, job_id, identity_type, action, status, error_code)
);
CREATE INDEX event_stats_job_minute ON event_stats (job_id, minute);

CREATE TABLE links (
    job_id       text COLLATE "C" NOT NULL,
    type         text COLLATE "C" NOT NULL,
    source_id    text COLLATE "C" NOT NULL,
    target_id    text COLLATE "C" NOT NULL,
    display_name text    NOT NULL,
    hash         text    NOT NULL,
    exported     text, -- JSON object of connectors.Attributes, NULL for nil
    members      text, -- JSON array of target IDs, NULL for nil
    disabled     boolean NOT NULL,
    updated      bigint  NOT NULL,
    PRIMARY KEY (job_id, type, source_id)
);
CREATE INDEX links_target ON links (job_id, type, target_id);

CREATE TABLE escrows (
    job_id        text COLLATE "C" NOT NULL,
    type          text COLLATE "C" NOT NULL,
    source_id     text COLLATE "C" NOT NULL,
    next_attempt  bigint  NOT NULL,
    first_failure bigint  NOT NULL,
    attempts      bigint  NOT NULL,
    error_code    text    NOT NULL,
    reference     boolean NOT NULL,
    escrow        text    NOT NULL, -- JSON of provisioning.Escrow
    PRIMARY KEY (job_id, type, source_id)
);
CREATE INDEX escrows_due ON escrows (job_id, next_attempt, type, source_id);

CREATE TABLE pending_refs (
    job_id        text COLLATE "C" NOT NULL,
    type          text COLLATE "C" NOT NULL,
    source_id     text COLLATE "C" NOT NULL,
    attribute     text COLLATE "C" NOT NULL,
    ref_source_id text   NOT NULL,
    created       bigint NOT NULL,
    PRIMARY KEY (job_id, type, source_id, attribute)
);
CREATE INDEX pending_refs_created ON pending_refs (job_id, created, type, source_id, attribute);

CREATE TABLE staged_ops (
    job_id    text COLLATE "C" NOT NULL,
    type      text COLLATE "C" NOT NULL,
    source_id text COLLATE "C" NOT NULL,
    target_id text   NOT NULL,
    action    text   NOT NULL,
    cycle_id  text   NOT NULL,
    created   bigint NOT NULL,
    op        text   NOT NULL, -- JSON of provisioning.StagedOp (with its event)
    PRIMARY KEY (job_id, type, source_id)
);
CREATE INDEX staged_ops_created ON staged_ops (job_id, created, type, source_id);

CREATE TABLE job_history (
    seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id   text COLLATE "C" NOT NULL,
    time     bigint NOT NULL,
    old_code text   NOT NULL,
    new_code text   NOT NULL,
    reason   text,
    change   text   NOT NULL -- JSON of provisioning.StatusChange
);
CREATE INDEX job_history_job_time ON job_history (job_id, time, seq);

CREATE TABLE audit (
    seq    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id     text,
    time   bigint NOT NULL,
    job_id text COLLATE "C",
    actor  text   NOT NULL,
    action text   NOT NULL,
    result text   NOT NULL,
    entry  text   NOT NULL -- JSON of provisioning.AuditEntry
);
CREATE INDEX audit_time     ON audit (time, seq);
CREATE INDEX audit_job_time ON audit (job_id, time, seq) WHERE job_id IS NOT NULL;

-- Replicas: several provisiond processes on one database. Each job is leased to one
-- replica at a time (job_leases); a replica renews its leases and its heartbeat
-- (replicas) periodically, and another takes a lease over once it has expired. epoch
-- grows with every change of owner: it is the fencing token Commit checks
-- (provisiond_check_lease), so that a replica that lost a lease cannot commit for the
-- job any more. Times here are the database's clock (now()), never a replica's.
CREATE TABLE replicas (
    replica   text COLLATE "C" NOT NULL PRIMARY KEY,
    started   timestamptz NOT NULL,
    heartbeat timestamptz NOT NULL,
    expires   timestamptz NOT NULL
);

CREATE TABLE job_leases (
    job_id   text COLLATE "C" NOT NULL PRIMARY KEY,
    owner    text COLLATE "C", -- NULL: free
    epoch    bigint      NOT NULL DEFAULT 0,
    acquired timestamptz,
    expires  timestamptz NOT NULL DEFAULT '-infinity'
);
CREATE INDEX job_leases_owner ON job_leases (owner) WHERE owner IS NOT NULL;

-- job_commands carries admin actions (pause, start, restart, sync now, provision on
-- demand) from the replica that received them to the one holding the job's lease, and
-- their results back.
CREATE TABLE job_commands (
    id       text COLLATE "C" NOT NULL PRIMARY KEY,
    seq      bigint GENERATED ALWAYS AS IDENTITY,
    job_id   text COLLATE "C" NOT NULL,
    command  text        NOT NULL, -- JSON of provisioning.Command
    created  timestamptz NOT NULL,
    taken_by text COLLATE "C",
    taken    timestamptz,
    done     timestamptz,
    result   text -- JSON of provisioning.CommandResult
);
CREATE INDEX job_commands_pending ON job_commands (job_id, seq) WHERE done IS NULL;
CREATE INDEX job_commands_done ON job_commands (done) WHERE done IS NOT NULL;

-- provisiond_check_lease fails (SQLSTATE PV001) unless the lease of job_id is held by
-- owner in epoch, and locks the lease row until the end of the transaction, so that a
-- take-over waits for a commit that passed the check.
CREATE FUNCTION provisiond_check_lease(p_job text, p_owner text, p_epoch bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM job_leases WHERE job_id = p_job AND owner = p_owner AND epoch = p_epoch FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the lease of job % is no longer held by % (epoch %)', p_job, p_owner, p_epoch
            USING ERRCODE = 'PV001';
    END IF;
END
$$;
