package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/provisiond/provisiond/api"
	"github.com/provisiond/provisiond/config"
	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/file"
	"github.com/provisiond/provisiond/connectors/plugin"
	"github.com/provisiond/provisiond/connectors/scim"
	"github.com/provisiond/provisiond/exporter"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/retention"
)

func newValidateCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "validate --config FILE",
		Short: "Validate a configuration file and exit (errors name file:line:field)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (%d connectors, %d jobs)\n", path, len(cfg.Connectors), len(cfg.Jobs))
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "configuration file (YAML)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func newRunCmd() *cobra.Command {
	var path, addr, logLevel string
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run the configured provisioning jobs and the API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if addr != "" {
				cfg.API.Addr = addr
			}
			log := newLogger(os.Stderr, logLevel)
			d, err := newDaemon(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			return d.run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "configuration file (YAML)")
	cmd.Flags().StringVar(&addr, "addr", "", "API listen address (overrides api.addr; default 127.0.0.1:8080)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func newLogger(w *os.File, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// daemon is a running provisiond: store, connectors, engine and API.
type daemon struct {
	log      *slog.Logger
	store    provisioning.Store
	engine   *provisioning.Engine
	api      *api.Server
	addr     string
	closers  []func() error
	listener net.Listener
	tel      telemetry
	// retention is how long events are kept (0: forever); see store/retention.
	retention time.Duration
}

// tokens returns the API tokens: environment first, then the configuration.
func tokens(cfg *config.Config) (reader, admin string) {
	reader, admin = cfg.API.ReaderToken.Value(), cfg.API.AdminToken.Value()
	if v := os.Getenv("PROVISIOND_READER_TOKEN"); v != "" {
		reader = v
	}
	if v := os.Getenv("PROVISIOND_ADMIN_TOKEN"); v != "" {
		admin = v
	}
	return reader, admin
}

func newDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger) (*daemon, error) {
	reader, admin := tokens(cfg)
	if reader == "" || admin == "" {
		return nil, &exitError{code: 2, err: errors.New("API tokens are not set: set api.readerToken and api.adminToken in the configuration, or PROVISIOND_READER_TOKEN and PROVISIOND_ADMIN_TOKEN")}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	st, leaser, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	tel, err := setupTelemetry(ctx, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	d := &daemon{log: log, store: st, addr: cfg.API.Addr, tel: tel, retention: cfg.Retention.Events}
	d.closers = append(d.closers, tel.close, st.Close)
	d.engine = provisioning.New(provisioning.Options{Store: st, Leaser: leaser, LeaseTTL: cfg.Store.LeaseTTL,
		Logger: tel.Logger(), Recorder: tel.Recorder(), Observer: tel.Observer()})
	if leaser != nil {
		log.Info("store: PostgreSQL; this process is one replica, running the jobs it holds the leases of", "replica", d.engine.Replica())
	}
	built := map[string]any{}
	for _, jc := range cfg.Jobs {
		src, err := d.source(cfg, jc.Source, built)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("%s:%d: jobs %s: source %q: %w", cfg.File, jc.Line, jc.Job.ID, jc.Source, err)
		}
		tgt, err := d.target(ctx, cfg, jc.Target, built)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("%s:%d: jobs %s: target %q: %w", cfg.File, jc.Line, jc.Job.ID, jc.Target, err)
		}
		if err := d.engine.AddJob(ctx, jc.Job, src, tgt); err != nil {
			d.close()
			return nil, fmt.Errorf("%s:%d: %w", cfg.File, jc.Line, err)
		}
		if t, ok := tgt.(exporter.Target); ok {
			tel.ObserveTarget(jc.Job.ID, t)
		}
	}
	tel.ObserveJobs(d.engine)
	d.api, err = api.New(api.Options{Engine: d.engine, Store: st, ReaderToken: reader, AdminToken: admin, Logger: log, Version: buildVersion(), Metrics: tel.MetricsHandler()})
	if err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

func (d *daemon) source(cfg *config.Config, name string, built map[string]any) (connectors.Source, error) {
	if c, ok := built[name]; ok {
		if s, ok := c.(connectors.Source); ok {
			return s, nil
		}
	}
	cc := cfg.Connectors[name]
	var src connectors.Source
	switch {
	case cc.File != nil:
		fs, err := file.New(file.Config{Users: cc.File.Users, Groups: cc.File.Groups, IDAttribute: cc.File.IDAttribute,
			MultiValueSeparator: cc.File.MultiValueSeparator, MultiValued: cc.File.MultiValued,
			StateDir: filepath.Join(cfg.DataDir, "state", name)})
		if err != nil {
			return nil, err
		}
		src = fs
	case cc.SCIM != nil:
		c, err := d.scimClient(context.Background(), cfg, name, cc.SCIM)
		if err != nil {
			return nil, err
		}
		src = c.Source()
	case cc.LDAP != nil:
		c, err := ldapClient(cfg, name, d.tel.Logger())
		if err != nil {
			return nil, err
		}
		src = c.Source()
	case cc.Plugin != nil:
		pc, err := d.pluginConn(context.Background(), name, cc.Plugin, built)
		if err != nil {
			return nil, err
		}
		if src, err = pc.Source(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("connector type %q cannot be a source in this build", cc.Type)
	}
	built[name] = src
	d.closers = append(d.closers, src.Close)
	return src, nil
}

func (d *daemon) target(ctx context.Context, cfg *config.Config, name string, built map[string]any) (connectors.Target, error) {
	if c, ok := built[name]; ok {
		if t, ok := c.(connectors.Target); ok {
			return t, nil
		}
	}
	cc := cfg.Connectors[name]
	if cc.Plugin != nil {
		pc, err := d.pluginConn(ctx, name, cc.Plugin, built)
		if err != nil {
			return nil, err
		}
		t, err := pc.Target()
		if err != nil {
			return nil, err
		}
		built[name] = t
		d.closers = append(d.closers, t.Close)
		return t, nil
	}
	if cc.LDAP != nil {
		c, err := ldapClient(cfg, name, d.tel.Logger())
		if err != nil {
			return nil, err
		}
		built[name] = c
		d.closers = append(d.closers, c.Close)
		return c, nil
	}
	if cc.SCIM == nil {
		return nil, fmt.Errorf("connector type %q cannot be a target in this build", cc.Type)
	}
	c, err := d.scimClient(ctx, cfg, name, cc.SCIM)
	if err != nil {
		return nil, err
	}
	built[name] = c
	d.closers = append(d.closers, c.Close)
	return c, nil
}

// pluginConn starts a plugin connector's process once (used as a source and as a target
// it is one process, restarted if it crashes) and stops it with the daemon.
func (d *daemon) pluginConn(ctx context.Context, name string, pc *config.PluginConnector, built map[string]any) (*plugin.Conn, error) {
	key := "plugin\x00" + name
	if c, ok := built[key].(*plugin.Conn); ok {
		return c, nil
	}
	c, err := plugin.Open(ctx, plugin.Config{Name: name, Path: pc.Path, Args: pc.Args, Logger: d.tel.Logger()})
	if err != nil {
		return nil, err
	}
	built[key] = c
	d.closers = append(d.closers, c.Close)
	return c, nil
}

func (d *daemon) scimClient(ctx context.Context, cfg *config.Config, name string, sc *config.SCIMConnector) (*scim.Client, error) {
	tls := scim.TLSConfig{CAFile: sc.TLS.CAFile, CertFile: sc.TLS.CertFile, KeyFile: sc.TLS.KeyFile, InsecureSkipVerify: sc.TLS.InsecureSkipVerify}
	hc, err := scim.NewHTTPClient(tls)
	if err != nil {
		return nil, err
	}
	return scim.New(ctx, scim.Config{
		HTTPClient: d.tel.HTTPClient(hc),
		BaseURL:    sc.URL,
		Auth: scim.AuthConfig{Type: sc.Auth.Type, Token: sc.Auth.Token.Value(), ClientID: sc.Auth.ClientID,
			ClientSecret: sc.Auth.ClientSecret.Value(), TokenURL: sc.Auth.TokenURL, Scopes: sc.Auth.Scopes,
			Username: sc.Auth.Username, Password: sc.Auth.Password.Value()},
		TLS:                  tls,
		Timeout:              sc.Timeout,
		MaxRequestsPerSecond: sc.MaxRequestsPerSecond,
		MinRequestsPerSecond: sc.MinRequestsPerSecond,
		MaxRetries:           sc.MaxRetries,
		MemberBatchSize:      sc.MemberBatchSize,
		PageSize:             sc.PageSize,
		DisableMode:          sc.DisableMode,
		StateDir:             filepath.Join(cfg.DataDir, "state", name),
	})
}

// listen binds the API address (so a port conflict fails before the engine starts).
func (d *daemon) listen() error {
	ln, err := net.Listen("tcp", d.addr)
	if err != nil {
		return fmt.Errorf("API address %s: %w", d.addr, err)
	}
	d.listener = ln
	return nil
}

// run serves the API and runs the engine until ctx is done, then shuts down gracefully:
// the batch in flight commits and the API drains.
func (d *daemon) run(ctx context.Context) error {
	defer d.close()
	if d.listener == nil {
		if err := d.listen(); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: d.api.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() {
		if err := srv.Serve(d.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	d.api.SetReady(true)
	d.log.Info("provisiond running", "api", "http://"+d.listener.Addr().String(), "jobs", len(d.engine.Jobs()), "version", buildVersion())
	engineDone := make(chan struct{})
	go func() {
		_ = d.engine.Run(ctx)
		close(engineDone)
	}()
	retentionDone := make(chan struct{})
	go func() {
		defer close(retentionDone)
		if qs, ok := d.store.(provisioning.QueryStore); ok {
			retention.Run(ctx, qs, d.retention, retention.Every, d.log)
		}
	}()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	d.log.Info("shutting down: finishing the batch in flight")
	d.api.SetReady(false)
	<-engineDone
	<-retentionDone // before the store closes
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	d.log.Info("stopped")
	return nil
}

func (d *daemon) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		_ = d.closers[i]()
	}
	d.closers = nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// telemetry is the daemon's OpenTelemetry set-up (exporter.Setup from the OTEL_* variables).
type telemetry struct{ *exporter.Telemetry }

func setupTelemetry(ctx context.Context, log *slog.Logger) (telemetry, error) {
	host, _ := os.Hostname()
	t, err := exporter.Setup(ctx, exporter.Options{ServiceVersion: buildVersion(), Logger: log,
		InstanceID: fmt.Sprintf("%s-%d", host, os.Getpid())})
	if err != nil {
		return telemetry{}, fmt.Errorf("telemetry (OTEL_* variables): %w", err)
	}
	return telemetry{t}, nil
}

// close flushes and shuts telemetry down with a deadline (after the engine has stopped).
func (t telemetry) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return t.Shutdown(ctx)
}
