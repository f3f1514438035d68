// Package plugin runs connectors out of process: a plugin is an executable, written with
// package plugin/sdk, that provisiond starts and talks to over gRPC through
// hashicorp/go-plugin. Open starts one and gives a connectors.Source and/or
// connectors.Target (with connectors.Estimator, connectors.Lister and connectors.Enabler
// when the plugin has them) that behave as the plugin's connector would in process: the
// same attribute values, the same errors (connectors.ClassOf finds the same class), the
// caller's deadlines and cancellation, the connector calls recorded in the caller's call
// log, and the caller's trace context (W3C, through otelgrpc with the global tracer
// provider and propagator).
//
// # Lifecycle
//
//   - Handshake: go-plugin's magic cookie (a plugin run by hand says it is one and exits)
//     and the protocol version (proto/connector.proto, version 1); a mismatch is an error
//     naming both versions.
//   - Transport: gRPC only, over a Unix socket, with mutual TLS from one-time certificates
//     made at each start (AutoMTLS): only this process can talk to the plugin. Optionally
//     the executable's SHA-256 is checked before each start (Config.Checksum).
//   - Environment: the plugin inherits provisiond's environment (the OTEL_* variables
//     included) minus the PROVISIOND_* variables (provisiond's own settings and API tokens),
//     plus Config.Env.
//   - Logs: the plugin's standard error (hclog JSON lines written by the SDK's logger) become
//     records of Config.Logger with their level, message, time and fields, and the
//     attribute plugin=<name>; other lines are logged at debug level (error after a panic).
//   - Crash: when the process exits or its connection breaks, calls fail at once with a
//     *connectors.Error of ClassConnection (code ConnectionFailed; the engine escrows the
//     operation and quarantines the job per its rules), and the process is restarted after
//     an exponential backoff (Config.MinRestartDelay doubling up to Config.MaxRestartDelay;
//     a process that ran for a minute resets it).
//   - Parent death: on Linux the process is started with the parent-death signal SIGKILL,
//     from an OS thread that lives exactly as long as the process, so no plugin outlives
//     provisiond, even after kill -9; the SDK also exits when its parent changes.
//   - Close: Conn.Close (or closing every view) closes the connector, stops the process
//     gracefully (go-plugin's controller, 2 s) and kills it otherwise.
package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/stats"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/plugin/internal/wire"
	pb "github.com/provisiond/provisiond/connectors/plugin/proto"
)

// ProtocolVersion is the connector plugin protocol version this build speaks.
const ProtocolVersion = wire.ProtocolVersion

// Defaults applied by Open to zero-valued fields of Config.
const (
	DefaultStartTimeout    = 30 * time.Second
	DefaultMinRestartDelay = 250 * time.Millisecond
	DefaultMaxRestartDelay = 30 * time.Second
	// healthyAfter is how long a process must run for its crash to restart the backoff.
	healthyAfter = time.Minute
	// describeTimeout bounds the Describe call after a start.
	describeTimeout = 10 * time.Second
)

// noParentDeathSignal turns the parent-death signal off (tests of the SDK's own watch).
var noParentDeathSignal bool

// Config configures Open.
type Config struct {
	// Name names the connector in logs and errors; default: the executable's base name.
	Name string
	// Path is the plugin executable; Args its arguments.
	Path string
	Args []string
	// Env holds KEY=VALUE pairs added to the plugin's environment.
	Env []string
	// Logger receives the plugin's log records and the host's own (default slog.Default).
	Logger *slog.Logger
	// StartTimeout bounds a start, up to the handshake (default 30s).
	StartTimeout time.Duration
	// MinRestartDelay and MaxRestartDelay bound the restart backoff after a crash
	// (defaults 250ms and 30s).
	MinRestartDelay, MaxRestartDelay time.Duration
	// Checksum, when set, is the SHA-256 the executable must have (checked before every
	// start).
	Checksum []byte
}

// Info is what the plugin says about itself (Describe).
type Info struct {
	Name    string
	Version string
	// ProtocolVersion is the negotiated protocol version.
	ProtocolVersion int
	// Source, Estimator, Target, Lister and Enabler say which SPI interfaces it implements.
	Source, Estimator, Target, Lister, Enabler bool
	// Schema is the object types and attributes it declared (may be empty).
	Schema []ObjectSchema
}

// ObjectSchema describes an object type's attributes.
type ObjectSchema struct {
	Type       connectors.ObjectType
	Attributes []Attribute
}

// Attribute describes one attribute (Type: string, bool, integer, decimal, dateTime,
// reference, complex).
type Attribute struct {
	Name        string
	Type        string
	MultiValued bool
	Required    bool
	Description string
}

// Conn is a running plugin (restarted when it crashes). Safe for concurrent use.
type Conn struct {
	cfg  Config
	log  *slog.Logger
	hlog *slogLogger
	info Info

	mu       sync.Mutex
	cur      *proc
	down     error // why no process runs (cur == nil)
	restarts int
	failures int
	closed   bool
	refs     int
	closeCh  chan struct{}
	wg       sync.WaitGroup
}

// proc is one plugin process and its connection.
type proc struct {
	client  *goplugin.Client
	run     *procRunner
	plug    pb.PluginClient
	src     pb.SourceClient
	tgt     pb.TargetClient
	health  grpc_health_v1.HealthClient
	started time.Time
	stderr  *tail
}

// Open starts the plugin, checks the handshake and reads what it implements. The plugin
// runs until Close (restarted after crashes).
func Open(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.Path == "" {
		return nil, errors.New("plugin: Config.Path is required")
	}
	if cfg.Name == "" {
		cfg.Name = filepath.Base(cfg.Path)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.MinRestartDelay <= 0 {
		cfg.MinRestartDelay = DefaultMinRestartDelay
	}
	if cfg.MaxRestartDelay <= 0 {
		cfg.MaxRestartDelay = DefaultMaxRestartDelay
	}
	if cfg.MaxRestartDelay < cfg.MinRestartDelay {
		cfg.MaxRestartDelay = cfg.MinRestartDelay
	}
	for _, kv := range cfg.Env {
		if !strings.Contains(kv, "=") {
			return nil, fmt.Errorf("plugin %s: Env entry %q is not KEY=VALUE", cfg.Name, kv)
		}
	}
	log := cfg.Logger.With("plugin", cfg.Name)
	c := &Conn{cfg: cfg, log: log, hlog: newSlogLogger(log, filepath.Base(cfg.Name)), closeCh: make(chan struct{})}
	p, err := c.start(ctx)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	d, err := p.plug.Describe(dctx, &pb.DescribeRequest{})
	if err != nil {
		p.client.Kill()
		return nil, fmt.Errorf("plugin %s: describe: %w", cfg.Name, err)
	}
	c.info = infoFrom(d)
	c.cur = p
	c.wg.Add(1)
	go c.supervise(p)
	log.Info("plugin started", "path", cfg.Path, "pid", p.run.pid, "name", c.info.Name, "version", c.info.Version,
		"protocol", c.info.ProtocolVersion, "source", c.info.Source, "target", c.info.Target)
	return c, nil
}

func infoFrom(d *pb.DescribeResponse) Info {
	caps := d.GetCapabilities()
	in := Info{Name: d.Name, Version: d.Version, ProtocolVersion: int(d.ProtocolVersion), Source: caps.GetSource(),
		Estimator: caps.GetEstimator(), Target: caps.GetTarget(), Lister: caps.GetLister(), Enabler: caps.GetEnabler()}
	for _, o := range d.Schema {
		os := ObjectSchema{Type: connectors.ObjectType(o.Type)}
		for _, a := range o.Attributes {
			os.Attributes = append(os.Attributes, Attribute{Name: a.Name, Type: a.Type, MultiValued: a.MultiValued,
				Required: a.Required, Description: a.Description})
		}
		in.Schema = append(in.Schema, os)
	}
	return in
}

// Info returns what the plugin said about itself when it was opened.
func (c *Conn) Info() Info { return c.info }

// Pid returns the process id of the running plugin, 0 while none runs.
func (c *Conn) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return 0
	}
	return c.cur.run.pid
}

// Restarts returns how many times the plugin was restarted after a crash.
func (c *Conn) Restarts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restarts
}

// Health checks that the plugin answers (the gRPC health service go-plugin registers).
func (c *Conn) Health(ctx context.Context) error {
	p, err := c.proc("Health")
	if err != nil {
		return err
	}
	_, err = p.health.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: goplugin.GRPCServiceName})
	if err != nil {
		return c.rpcError(ctx, p, "Health", err)
	}
	return nil
}

// Close stops the plugin (gracefully, then by force) and waits for it. Views return
// ClassConnection errors afterwards.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.closeCh)
	p := c.cur
	c.cur = nil
	c.mu.Unlock()
	if p != nil {
		p.client.Kill()
	}
	c.wg.Wait()
	c.log.Info("plugin stopped")
	return nil
}

// acquire counts a view handed out; release closes the plugin with the last one.
func (c *Conn) acquire() {
	c.mu.Lock()
	c.refs++
	c.mu.Unlock()
}

func (c *Conn) release() error {
	c.mu.Lock()
	c.refs--
	last := c.refs == 0
	c.mu.Unlock()
	if last {
		return c.Close()
	}
	return nil
}

// env is the plugin's environment: provisiond's minus PROVISIOND_*, the log level,
// Config.Env (go-plugin adds its handshake variables).
func (c *Conn) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PROVISIOND_") {
			env = append(env, kv)
		}
	}
	env = append(env, wire.EnvLogLevel+"="+c.hlog.levelName())
	return append(env, c.cfg.Env...)
}

// grpcClientHandler traces the connector RPCs (beneath the caller's span) and propagates
// the trace context, with the global tracer provider and propagator.
func grpcClientHandler() stats.Handler {
	return otelgrpc.NewClientHandler(otelgrpc.WithFilter(func(ri *stats.RPCTagInfo) bool {
		return strings.HasPrefix(ri.FullMethodName, "/provisiond.connector.v1.")
	}))
}

// start starts a process and connects to it.
func (c *Conn) start(ctx context.Context) (*proc, error) {
	if len(c.cfg.Checksum) > 0 {
		if err := checkSum(c.cfg.Path, c.cfg.Checksum); err != nil {
			return nil, fmt.Errorf("plugin %s: %w", c.cfg.Name, err)
		}
	}
	p := &proc{stderr: &tail{max: 8 << 10}}
	cmd := exec.Command(c.cfg.Path, c.cfg.Args...)
	cmd.Env = c.env()
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: wire.PluginSet(nil),
		RunnerFunc: func(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
			cmd.Env = append(cmd.Env, spec.Env...)
			r, err := newProcRunner(cmd, c.cfg.Name)
			p.run = r
			return r, err
		},
		SkipHostEnv:      true,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           c.hlog,
		Stderr:           p.stderr,
		StartTimeout:     c.cfg.StartTimeout,
		GRPCDialOptions:  []grpc.DialOption{grpc.WithStatsHandler(grpcClientHandler())},
	})
	p.client = client
	type result struct {
		rpc goplugin.ClientProtocol
		err error
	}
	done := make(chan result, 1)
	go func() {
		rpc, err := client.Client()
		done <- result{rpc, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		go func() { <-done; client.Kill() }()
		return nil, fmt.Errorf("plugin %s: start: %w", c.cfg.Name, ctx.Err())
	}
	if res.err != nil {
		client.Kill() // waits for the process and for its output to be read
		return nil, c.startError(p, res.err)
	}
	raw, err := res.rpc.Dispense(wire.PluginName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("plugin %s: %w", c.cfg.Name, err)
	}
	conn := raw.(*grpc.ClientConn)
	p.plug, p.src, p.tgt = pb.NewPluginClient(conn), pb.NewSourceClient(conn), pb.NewTargetClient(conn)
	p.health = grpc_health_v1.NewHealthClient(conn)
	p.started = time.Now()
	return p, nil
}

// startError explains a failed start: a protocol version mismatch names both versions; a
// plugin that exited says what it wrote last.
func (c *Conn) startError(p *proc, err error) error {
	name := c.cfg.Name
	msg := err.Error()
	var line string
	if p.run != nil {
		line = p.run.handshakeLine()
	}
	parts := strings.Split(line, "|")
	switch {
	case strings.Contains(msg, "incompatible API version"):
		v := "unknown"
		if len(parts) > 1 {
			v = parts[1]
		}
		return fmt.Errorf("plugin %s (%s) speaks connector plugin protocol version %s, but this provisiond speaks version %d: rebuild the plugin with the SDK of this provisiond version (connectors/plugin/sdk)",
			name, c.cfg.Path, v, ProtocolVersion)
	case strings.Contains(msg, "incompatible core API version"):
		v := "unknown"
		if len(parts) > 0 {
			v = parts[0]
		}
		return fmt.Errorf("plugin %s (%s) speaks go-plugin core protocol version %s, but this provisiond speaks version %d: rebuild the plugin with the SDK of this provisiond version",
			name, c.cfg.Path, v, goplugin.CoreProtocolVersion)
	case strings.Contains(msg, "unsupported plugin protocol"):
		return fmt.Errorf("plugin %s (%s) offers protocol %q: provisiond plugins must serve gRPC (build them with connectors/plugin/sdk)", name, c.cfg.Path, p.client.Protocol())
	}
	if p.run != nil && p.run.exited() || strings.Contains(msg, "exited before we could connect") || strings.Contains(msg, "Unrecognized remote plugin message") {
		var whys []string
		if line != "" {
			whys = append(whys, "it wrote "+strconv.Quote(line)+" instead of the go-plugin handshake")
		}
		if out := p.stderr.lastLines(3); out != "" {
			whys = append(whys, "its last output: "+out)
		}
		why := strings.Join(whys, "; ")
		if why == "" {
			why = msg
		}
		exit := ""
		if p.run != nil && p.run.exited() && p.run.waitErr != nil {
			exit = " (" + p.run.waitErr.Error() + ")"
		}
		return fmt.Errorf("plugin %s (%s) did not complete the handshake%s: %s", name, c.cfg.Path, exit, why)
	}
	return fmt.Errorf("plugin %s (%s): start: %w", name, c.cfg.Path, err)
}

func checkSum(path string, want []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return fmt.Errorf("executable %s has SHA-256 %x, want %x: not started", path, got, want)
	}
	return nil
}

// supervise waits for p to exit and, unless the plugin is being closed, restarts it with
// exponential backoff.
func (c *Conn) supervise(p *proc) {
	defer c.wg.Done()
	select {
	case <-p.run.done:
	case <-c.closeCh:
		return
	}
	p.client.Kill() // releases go-plugin's side (socket directory, goroutines)
	reason := "exited"
	if p.run.waitErr != nil {
		reason = "exited: " + p.run.waitErr.Error()
	}
	if why := p.stderr.lastLines(1); why != "" {
		reason += "; last output: " + why
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.cur == p {
		c.cur = nil
	}
	if time.Since(p.started) >= healthyAfter {
		c.failures = 0
	}
	c.down = errors.New("plugin process " + strconv.Itoa(p.run.pid) + " " + reason)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		c.failures++
		delay := c.cfg.MinRestartDelay << min(c.failures-1, 30)
		if delay > c.cfg.MaxRestartDelay || delay <= 0 {
			delay = c.cfg.MaxRestartDelay
		}
		down := c.down
		c.mu.Unlock()
		c.log.Error("plugin is down; restarting", "reason", down.Error(), "in", delay.String())
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-c.closeCh:
			t.Stop()
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), c.cfg.StartTimeout)
		np, err := c.start(sctx)
		cancel()
		if err == nil {
			c.mu.Lock()
			if c.closed {
				c.mu.Unlock()
				np.client.Kill()
				return
			}
			c.cur, c.down = np, nil
			c.restarts++
			n := c.restarts
			c.mu.Unlock()
			c.log.Info("plugin restarted", "pid", np.run.pid, "restarts", n)
			c.wg.Add(1)
			go c.supervise(np)
			return
		}
		c.mu.Lock()
		c.down = err
		c.mu.Unlock()
	}
}

// proc returns the running process, or a ClassConnection error while none runs.
func (c *Conn) proc(method string) (*proc, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, c.connError(method, "the plugin is closed")
	case c.cur == nil:
		msg := "the plugin is not running"
		if c.down != nil {
			msg += " (" + c.down.Error() + ")"
		}
		return nil, c.connError(method, msg+"; it is being restarted")
	case c.cur.run.exited():
		// The supervisor is about to see it.
		return nil, c.connError(method, "the plugin process exited; it is being restarted")
	}
	return c.cur, nil
}

func (c *Conn) connError(method, msg string) *connectors.Error {
	return &connectors.Error{Class: connectors.ClassConnection, Code: "ConnectionFailed",
		Message: "plugin " + c.cfg.Name + ": " + msg, Request: "plugin " + c.cfg.Name + " " + method}
}
