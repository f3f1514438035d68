// Package paging walks a keyed table in chunks, each read by its own short query, the
// way both stores scan a job's links: a long scan then never holds a read transaction
// (SQLite's WAL checkpoints, PostgreSQL's snapshots) open, and fn may use the store.
package paging

import "context"

// Scan calls fn for every record query returns, in key order. query appends to out the
// records after the key after ("" and first true for the start) up to limit of them, in
// key order; key returns a record's key. Records committed during the scan are seen if
// their key sorts after the chunk being read. An error from fn stops the scan and is
// returned as is; query errors are returned as is too.
func Scan[T any](ctx context.Context, limit int, key func(T) string, query func(out []T, first bool, after string) ([]T, error), fn func(T) error) error {
	var chunk []T
	first, after := true, ""
	for {
		var err error
		if chunk, err = query(chunk[:0], first, after); err != nil {
			return err
		}
		for _, r := range chunk {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(chunk) < limit {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		first, after = false, key(chunk[len(chunk)-1])
	}
}
