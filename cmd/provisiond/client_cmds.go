package main

// The CLI client commands (status, logs, cycles, restart, pause, start, sync, provision)
// talk to a running daemon through api/client. This file holds what they share: the
// --server/--timeout flags, the token from the environment, the exit codes and the
// translation of API errors into one clear line with the right code. docs/cli.md is the
// user-facing reference.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/provisiond/provisiond/api/client"
)

// Exit codes of the client commands (documented in every command's --help and in
// docs/cli.md).
const (
	codeOK              = 0
	codeError           = 1 // the server answered an error, or another failure
	codeUsage           = 2 // bad flags or arguments (also a request the server rejected as invalid)
	codeNotFound        = 3 // unknown job, event or source object
	codeAuth            = 4 // no, wrong or insufficient token (HTTP 401/403)
	codeUnreachable     = 5 // the server cannot be reached or did not answer within --timeout
	codeProvisionFailed = 6 // provision: the object's provisioning failed
)

// exitCodesHelp is appended to the long help of every client command.
const exitCodesHelp = `
Exit codes:
  0  ok
  1  server or other error
  2  usage error (bad flags or arguments, or a value the server rejected)
  3  not found (job, event, source object)
  4  authentication or authorization (HTTP 401/403; the message says which token is needed)
  5  server unreachable, or no answer within --timeout
  6  provision only: the object's provisioning failed`

// clientEnvHelp explains where the server and token come from.
const clientEnvHelp = `
The server is --server, else $PROVISIOND_SERVER, else http://127.0.0.1:8080. The bearer
token comes from the environment only (never a flag, so it stays out of shell history and
process lists): $PROVISIOND_TOKEN, else $PROVISIOND_READER_TOKEN for reads (then
$PROVISIOND_ADMIN_TOKEN) and $PROVISIOND_ADMIN_TOKEN for actions.`

// defaultServer is the API address of a daemon with the default configuration.
const defaultServer = "http://127.0.0.1:8080"

// access is what a command does with the API, which decides the token it needs.
type access int

const (
	readAccess  access = iota // GET: the reader (or admin) token
	adminAccess               // actions: the admin token
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	server  string
	timeout time.Duration
}

// register adds --server and --timeout to cmd, makes flag and argument errors exit with
// code 2, and appends the environment and exit-code help.
func (f *clientFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.server, "server", "", "API base URL (default $PROVISIOND_SERVER, else "+defaultServer+")")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 60*time.Second, "time limit of the request (for streamed output: of the connection and the first byte)")
	usageErrors(cmd)
	cmd.Long = strings.TrimSpace(cmd.Long) + "\n" + clientEnvHelp + "\n" + exitCodesHelp
}

// usageErrors makes cmd's flag errors exit with code 2.
func usageErrors(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: codeUsage, err: fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
}

// usagef returns a usage error (exit code 2).
func usagef(format string, args ...any) error {
	return &exitError{code: codeUsage, err: fmt.Errorf(format, args...)}
}

// noArgs is cobra.NoArgs with exit code 2.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments (got %q); see --help", cmd.CommandPath(), args[0])
	}
	return nil
}

// conn is one command's connection to the daemon.
type conn struct {
	*client.Client
	server   string
	tokenVar string // the variable the token came from ("" when none is set)
	access   access
	timeout  time.Duration
	command  string // "provisiond restart", for error messages
}

// tokenFor returns the token for an access and the variable it came from.
func tokenFor(a access) (token, from string) {
	vars := []string{"PROVISIOND_TOKEN", "PROVISIOND_READER_TOKEN", "PROVISIOND_ADMIN_TOKEN"}
	if a == adminAccess {
		vars = []string{"PROVISIOND_TOKEN", "PROVISIOND_ADMIN_TOKEN"}
	}
	for _, v := range vars {
		if t := strings.TrimSpace(os.Getenv(v)); t != "" {
			return t, v
		}
	}
	return "", ""
}

// connect builds the client of cmd from the flags and the environment.
func (f *clientFlags) connect(cmd *cobra.Command, a access) (*conn, error) {
	server := f.server
	if server == "" {
		server = os.Getenv("PROVISIOND_SERVER")
	}
	if server == "" {
		server = defaultServer
	}
	if f.timeout <= 0 {
		return nil, usagef("--timeout must be positive (got %s)", f.timeout)
	}
	token, from := tokenFor(a)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = f.timeout
	tr.DialContext = (&net.Dialer{Timeout: min(f.timeout, 30*time.Second), KeepAlive: 30 * time.Second}).DialContext
	c, err := client.New(server, token, client.WithHTTPClient(&http.Client{Transport: tr}),
		client.WithUserAgent("provisiond-cli/"+buildVersion()))
	if err != nil {
		return nil, usagef("--server: %v", err)
	}
	return &conn{Client: c, server: server, tokenVar: from, access: a, timeout: f.timeout, command: cmd.CommandPath()}, nil
}

// ctx bounds one request by --timeout (streamed output is bounded by the transport's
// header timeout instead, so a long export is not cut off).
func (c *conn) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, c.timeout)
}

// fail turns an error of the API client into an exitError with the matching code and a
// message that says what to do. what names the object of the request ("job demo").
func (c *conn) fail(err error, what string) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	var ae *client.Error
	if errors.As(err, &ae) {
		detail := fmt.Sprintf("HTTP %d", ae.Status)
		if ae.Code != "" {
			detail += " " + ae.Code
		}
		switch {
		case ae.Status == http.StatusUnauthorized:
			return &exitError{code: codeAuth, err: errors.New(c.authMessage(detail))}
		case ae.Status == http.StatusForbidden:
			return &exitError{code: codeAuth, err: fmt.Errorf("%s needs the admin token (%s): the token from $%s is not the admin token; set $PROVISIOND_TOKEN or $PROVISIOND_ADMIN_TOKEN to the daemon's admin token",
				c.command, detail, c.tokenVar)}
		case ae.Status == http.StatusNotFound:
			return &exitError{code: codeNotFound, err: fmt.Errorf("%s: not found (%s): %s", what, detail, ae.Message)}
		case ae.Status == http.StatusBadRequest:
			return &exitError{code: codeUsage, err: fmt.Errorf("%s: the server rejected the request (%s): %s", what, detail, ae.Message)}
		default:
			return &exitError{code: codeError, err: fmt.Errorf("%s: %s (%s)", what, ae.Message, detail)}
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return &exitError{code: codeUnreachable, err: fmt.Errorf("no answer from the provisiond API at %s within %s (raise --timeout, or check the daemon)", c.server, c.timeout)}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return &exitError{code: codeUnreachable, err: fmt.Errorf("%v (is the daemon running? set --server or $PROVISIOND_SERVER)", err)}
	}
	if errors.Is(err, context.Canceled) {
		return &exitError{code: codeError, err: errors.New("interrupted")}
	}
	return &exitError{code: codeError, err: fmt.Errorf("%s: %w", what, err)}
}

func (c *conn) authMessage(detail string) string {
	need := "the reader or admin token"
	vars := "$PROVISIOND_TOKEN or $PROVISIOND_READER_TOKEN"
	if c.access == adminAccess {
		need, vars = "the admin token", "$PROVISIOND_TOKEN or $PROVISIOND_ADMIN_TOKEN"
	}
	if c.tokenVar == "" {
		return fmt.Sprintf("%s needs %s (%s): no token is set; set %s", c.command, need, detail, vars)
	}
	return fmt.Sprintf("the server refused the token from $%s (%s): %s needs %s; set %s", c.tokenVar, detail, c.command, need, vars)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// newClientCmds returns the client commands, for the root command.
func newClientCmds() []*cobra.Command {
	return []*cobra.Command{newStatusCmd(), newLogsCmd(), newCyclesCmd(), newRestartCmd(), newPauseCmd(),
		newStartCmd(), newSyncCmd(), newProvisionCmd()}
}
