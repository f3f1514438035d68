package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/internal/codec"
)

// Leases (provisioning.Leaser). Every time is the database's clock (now(), the start of
// the claiming transaction), so replicas' clocks need not agree. The fencing of commits
// is in Commit (provisiond_check_lease, see the migration); this file grants, renews and
// releases leases and carries commands.

// doneRetention is how long completed commands are kept for their sender to read.
const doneRetention = time.Hour

// Lease statements.
const (
	qHeartbeat = `INSERT INTO replicas (replica, started, heartbeat, expires) VALUES ($1, now(), now(), now() + $2::interval)
		ON CONFLICT (replica) DO UPDATE SET heartbeat = now(), expires = now() + $2::interval`
	qEnsureLeases = `INSERT INTO job_leases (job_id) SELECT unnest($1::text[]) ON CONFLICT (job_id) DO NOTHING`
	qRenew        = `UPDATE job_leases SET expires = now() + $3::interval
		WHERE owner = $1 AND job_id = ANY($2::text[]) RETURNING job_id, owner, epoch, expires`
	qLiveReplicas = `SELECT count(*) FROM replicas WHERE expires > now()`
	// qTake takes free or expired leases, skipping those locked by a take-over in progress
	// elsewhere or by a commit still checking the previous holder's lease.
	qTake = `UPDATE job_leases SET owner = $1, epoch = epoch + 1, acquired = now(), expires = now() + $4::interval
		WHERE job_id IN (SELECT job_id FROM job_leases WHERE job_id = ANY($2::text[]) AND (owner IS NULL OR expires < now())
			ORDER BY expires, job_id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING job_id, owner, epoch, expires`
	// qRequeue hands the commands a previous holder took but did not complete to the new one.
	qRequeue = `UPDATE job_commands SET taken_by = NULL, taken = NULL
		WHERE job_id = ANY($1::text[]) AND done IS NULL AND taken_by IS NOT NULL AND taken_by <> $2`
	qCleanDone     = `DELETE FROM job_commands WHERE done < now() - $1::interval`
	qCleanReplicas = `DELETE FROM replicas WHERE expires < now() - $1::interval`
)

// ClaimLeases records that replica is alive, renews the leases it holds among jobIDs, and
// takes free or expired ones while it holds fewer than its fair share (the number of jobs
// divided by the number of live replicas, rounded up), all in one transaction. A lease
// lasts ttl from the claim unless renewed.
func (s *Store) ClaimLeases(ctx context.Context, replica string, jobIDs []string, ttl time.Duration) (provisioning.LeaseClaim, error) {
	var claim provisioning.LeaseClaim
	if replica == "" || !storable(replica) {
		return claim, fmt.Errorf("store/postgres: claim leases: invalid replica name %q", replica)
	}
	if ttl <= 0 {
		return claim, fmt.Errorf("store/postgres: claim leases: ttl %v must be positive", ttl)
	}
	jobs := make([]string, 0, len(jobIDs))
	for _, j := range jobIDs {
		if storable(j) && !slices.Contains(jobs, j) {
			jobs = append(jobs, j)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		claim = provisioning.LeaseClaim{}
		if _, err := tx.Exec(ctx, qHeartbeat, replica, ttl); err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
		if _, err := tx.Exec(ctx, qEnsureLeases, jobs); err != nil {
			return err
		}
		held, err := scanLeases(tx.Query(ctx, qRenew, replica, jobs, ttl))
		if err != nil {
			return fmt.Errorf("renew: %w", err)
		}
		var live int64
		if err := tx.QueryRow(ctx, qLiveReplicas).Scan(&live); err != nil {
			return err
		}
		live = max(live, 1)
		claim.Replicas = int(live)
		claim.Share = int((int64(len(jobs)) + live - 1) / live)
		if want := claim.Share - len(held); want > 0 {
			taken, err := scanLeases(tx.Query(ctx, qTake, replica, jobs, want, ttl))
			if err != nil {
				return fmt.Errorf("take: %w", err)
			}
			if len(taken) > 0 {
				ids := make([]string, len(taken))
				for i, l := range taken {
					ids[i] = l.JobID
				}
				if _, err := tx.Exec(ctx, qRequeue, ids, replica); err != nil {
					return err
				}
			}
			held = append(held, taken...)
		}
		if _, err := tx.Exec(ctx, qCleanDone, doneRetention); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, qCleanReplicas, doneRetention); err != nil {
			return err
		}
		slices.SortFunc(held, func(a, b provisioning.Lease) int { return strings.Compare(a.JobID, b.JobID) })
		claim.Held = held
		return nil
	})
	if err != nil {
		return provisioning.LeaseClaim{}, wrap(err, "claim leases for %s", replica)
	}
	return claim, nil
}

func scanLeases(rows pgx.Rows, err error) ([]provisioning.Lease, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []provisioning.Lease
	for rows.Next() {
		var l provisioning.Lease
		var exp pgtype.Timestamptz
		if err := rows.Scan(&l.JobID, &l.Owner, &l.Epoch, &exp); err != nil {
			return nil, err
		}
		if exp.Valid && exp.InfinityModifier == pgtype.Finite {
			l.Expires = exp.Time.UTC() // a free lease ('-infinity') has the zero time
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// ReleaseLeases gives up the leases replica holds among jobIDs (their epoch stays: the
// next holder's is one more). With jobIDs nil it gives up all of them and removes the
// replica from the live ones, so that the others count it out at once (shutdown).
func (s *Store) ReleaseLeases(ctx context.Context, replica string, jobIDs []string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if jobIDs == nil {
			if _, err := tx.Exec(ctx, `UPDATE job_leases SET owner = NULL, expires = '-infinity' WHERE owner = $1`, replica); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DELETE FROM replicas WHERE replica = $1`, replica)
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE job_leases SET owner = NULL, expires = '-infinity' WHERE owner = $1 AND job_id = ANY($2::text[])`,
			replica, jobIDs)
		return err
	})
	return wrap(err, "release leases of %s", replica)
}

// Leases returns every job's lease (free ones have no owner), by job id.
func (s *Store) Leases(ctx context.Context) ([]provisioning.Lease, error) {
	rows, err := s.pool.Query(ctx, `SELECT job_id, coalesce(owner, ''), epoch, expires FROM job_leases ORDER BY job_id`)
	out, err := scanLeases(rows, err)
	return out, wrap(err, "leases")
}

// SendCommand queues a command for the replica holding the job's lease.
func (s *Store) SendCommand(ctx context.Context, c provisioning.Command) error {
	if c.ID == "" || c.JobID == "" {
		return errors.New("store/postgres: send command: a command needs an id and a job id")
	}
	if err := checkText("command", c.ID, c.JobID); err != nil {
		return fmt.Errorf("store/postgres: send command: %w", err)
	}
	js, err := codec.Marshal(&c)
	if err != nil {
		return fmt.Errorf("store/postgres: encode command: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO job_commands (id, job_id, command, created) VALUES ($1, $2, $3, now())`, c.ID, c.JobID, js)
	return wrap(err, "send command %s to job %q", c.Action, c.JobID)
}

// qTakeCommands marks taken the pending commands of the jobs replica holds.
const qTakeCommands = `UPDATE job_commands c SET taken_by = $1, taken = now()
	WHERE c.id IN (SELECT p.id FROM job_commands p JOIN job_leases l ON l.job_id = p.job_id
		WHERE l.owner = $1 AND p.done IS NULL AND p.taken_by IS NULL FOR UPDATE OF p SKIP LOCKED)
	RETURNING c.seq, c.command`

// TakeCommands returns the queued commands of the jobs whose lease replica holds, oldest
// first, marking them taken by it.
func (s *Store) TakeCommands(ctx context.Context, replica string) ([]provisioning.Command, error) {
	rows, err := s.pool.Query(ctx, qTakeCommands, replica)
	if err != nil {
		return nil, wrap(err, "take commands")
	}
	defer rows.Close()
	type seqCmd struct {
		seq int64
		c   provisioning.Command
	}
	var cmds []seqCmd
	for rows.Next() {
		var sc seqCmd
		var js []byte
		if err := rows.Scan(&sc.seq, &js); err != nil {
			return nil, wrap(err, "take commands")
		}
		if err := codec.Unmarshal(js, &sc.c); err != nil {
			return nil, fmt.Errorf("store/postgres: decode command: %w", err)
		}
		cmds = append(cmds, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "take commands")
	}
	slices.SortFunc(cmds, func(a, b seqCmd) int { return int(a.seq - b.seq) })
	out := make([]provisioning.Command, len(cmds))
	for i := range cmds {
		out[i] = cmds[i].c
	}
	return out, nil
}

// CompleteCommand records a command's result.
func (s *Store) CompleteCommand(ctx context.Context, id string, r provisioning.CommandResult) error {
	js, err := codec.Marshal(&r)
	if err != nil {
		return fmt.Errorf("store/postgres: encode command result: %w", err)
	}
	_, err = s.pool.Exec(ctx, `UPDATE job_commands SET done = now(), result = $2 WHERE id = $1`, id, js)
	return wrap(err, "complete command %q", id)
}

// CommandResult returns a command's result; done is false while it has not run. A
// command never sent (or completed over an hour ago) is provisioning.ErrNotFound.
func (s *Store) CommandResult(ctx context.Context, id string) (provisioning.CommandResult, bool, error) {
	var r provisioning.CommandResult
	if !storable(id) {
		return r, false, notFound(fmt.Sprintf("command %q", id))
	}
	var js []byte
	err := s.pool.QueryRow(ctx, `SELECT result FROM job_commands WHERE id = $1`, id).Scan(&js)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return r, false, notFound(fmt.Sprintf("command %q", id))
	case err != nil:
		return r, false, wrap(err, "command %q", id)
	case js == nil:
		return r, false, nil
	}
	if err := codec.Unmarshal(js, &r); err != nil {
		return r, false, fmt.Errorf("store/postgres: decode command result: %w", err)
	}
	return r, true, nil
}
