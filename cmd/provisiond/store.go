package main

import (
	"context"
	"fmt"

	"github.com/provisiond/provisiond/config"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/postgres"
	"github.com/provisiond/provisiond/store/sqlite"
)

// openStore opens the configured store. With PostgreSQL the store is also the engine's
// Leaser: this process is one replica of those sharing the database, running the jobs it
// holds the leases of (docs/postgres.md). With SQLite it runs every job (leaser nil).
// Errors never contain the DSN.
func openStore(ctx context.Context, cfg *config.Config) (st provisioning.QueryStore, leaser provisioning.Leaser, err error) {
	switch cfg.Store.Driver {
	case config.DriverPostgres:
		s, err := postgres.Open(ctx, cfg.Store.DSN.Value())
		if err != nil {
			return nil, nil, fmt.Errorf("open store (postgres): %w", err)
		}
		return s, s, nil
	case config.DriverSQLite, "":
		s, err := sqlite.Open(ctx, cfg.Store.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("open store %s: %w", cfg.Store.Path, err)
		}
		return s, nil, nil
	}
	return nil, nil, &exitError{code: 2, err: fmt.Errorf("%s: store.driver %q: want %s or %s", cfg.File, cfg.Store.Driver, config.DriverSQLite, config.DriverPostgres)}
}
