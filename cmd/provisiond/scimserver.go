package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/provisiond/provisiond/connectors/scim/scimserver"
)

func newSCIMServerCmd() *cobra.Command {
	var addr, token string
	var deterministic bool
	cmd := &cobra.Command{
		Use:   "scim-server --addr 127.0.0.1:PORT --token T",
		Short: "Run the embedded SCIM 2.0 server standalone (in memory; for trials and tests)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				token = os.Getenv("PROVISIOND_SCIM_TOKEN")
			}
			if token == "" {
				return &exitError{code: 2, err: errors.New("a bearer token is required: --token or PROVISIOND_SCIM_TOKEN")}
			}
			s, err := scimserver.New(scimserver.Options{Token: token, Logger: newLogger(os.Stderr, "info"), DeterministicIDs: deterministic})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "SCIM server on http://%s/scim/v2 (faults: GET/PUT /admin/faults)\n", addr)
			return scimserver.ListenAndServe(cmd.Context(), addr, s)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8880", "listen address")
	cmd.Flags().StringVar(&token, "token", "", "bearer token clients must send (or PROVISIOND_SCIM_TOKEN)")
	cmd.Flags().BoolVar(&deterministic, "deterministic-ids", false, "derive resource ids from userName/displayName (the same data gets the same ids; for benchmarks and replays)")
	return cmd
}
