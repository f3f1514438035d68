package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestDSN(t *testing.T) {
	ctx := context.Background()
	dsns := map[string]bool{}
	for range 2 {
		dsn := DSN(t)
		if dsns[dsn] {
			t.Fatalf("DSN returned %q twice", dsn)
		}
		dsns[dsn] = true
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil || n != 0 {
			t.Errorf("a new database has %d tables (%v)", n, err)
		}
		if _, err := conn.Exec(ctx, `CREATE TABLE t (x int)`); err != nil {
			t.Error(err)
		}
		conn.Close(ctx)
	}
}
