package main

import (
	"log/slog"
	"path/filepath"

	"github.com/provisiond/provisiond/config"
	"github.com/provisiond/provisiond/connectors/ldap"
)

// ldapClient builds the LDAP connector name (a target; its Source method gives the source)
// from the configuration, with its state (the rename journal) under the data directory. It
// does not contact the server.
func ldapClient(cfg *config.Config, name string, log *slog.Logger) (*ldap.Client, error) {
	lc := cfg.Connectors[name].LDAP.Connector()
	lc.Logger = log
	lc.StateDir = filepath.Join(cfg.DataDir, "state", name)
	return ldap.New(lc)
}
