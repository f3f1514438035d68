// Package sdk is what a connector plugin's author uses: implement connectors.Source and/or
// connectors.Target (and, optionally, connectors.Estimator, connectors.Lister and
// connectors.Enabler) as for a built-in connector, then call Serve from main:
//
//	func main() {
//		t, err := newMyTarget(os.Args[1:])
//		if err != nil {
//			sdk.Logger().Error("cannot start", "error", err)
//			os.Exit(1)
//		}
//		sdk.Serve(sdk.Config{Name: "my-target", Version: "1.0.0", Target: t})
//	}
//
// Serve does the rest: the go-plugin handshake with provisiond (gRPC, mutual TLS with
// one-time certificates), the protocol (every SPI call, errors with every field of
// connectors.Error, attribute values of every plain type unchanged), the connector calls
// returned to the host's event, OpenTelemetry tracing from the OTEL_* variables (spans beneath
// the operation's span in provisiond's trace), logs through Logger into provisiond's log,
// and exit when provisiond goes away.
//
// Rules: never write to standard output (it carries the handshake); log with Logger; use
// HTTPClient for HTTP so that requests appear in the trace and in the event's calls; honour
// ctx (provisiond's deadlines and cancellation reach it).
package sdk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/plugin/internal/wire"
)

// Config is what Serve serves.
type Config struct {
	// Name is the plugin's name (in provisiond's logs and as the service.name of its
	// spans); default: the executable's base name.
	Name string
	// Version is the plugin's version (service.version).
	Version string
	// Source and Target are the connector; at least one is required. One value may be
	// both.
	Source connectors.Source
	Target connectors.Target
	// Schema optionally describes the object types and attributes the connector handles
	// (reported to provisiond by Describe).
	Schema []ObjectSchema
}

// ObjectSchema describes an object type's attributes.
type ObjectSchema struct {
	Type       connectors.ObjectType
	Attributes []Attribute
}

// Attribute describes one attribute. Type is one of string, bool, integer, decimal,
// dateTime, reference, complex.
type Attribute struct {
	Name        string
	Type        string
	MultiValued bool
	Required    bool
	Description string
}

// parentPoll is how often the plugin checks that provisiond is still its parent.
const parentPoll = time.Second

// shutdownTimeout bounds closing the connector and flushing spans at exit.
const shutdownTimeout = 5 * time.Second

// Serve serves the connector to provisiond and returns when provisiond stops the plugin
// (after closing the connector and flushing telemetry). Run by hand, outside provisiond,
// it prints that the program is a plugin and exits with status 1.
func Serve(cfg Config) {
	log := Logger()
	if cfg.Source == nil && cfg.Target == nil {
		log.Error("sdk.Serve: Config has neither a Source nor a Target")
		os.Exit(1)
	}
	if cfg.Name == "" {
		cfg.Name = filepath.Base(os.Args[0])
	}
	hs := wire.Handshake
	versions := []int{wire.ProtocolVersion}
	if o := wire.ServeOverride; o != nil {
		if o.Versions != nil {
			versions = o.Versions
		}
		if o.Cookie != "" {
			hs.MagicCookieValue = o.Cookie
		}
	}
	if os.Getenv(hs.MagicCookieKey) != hs.MagicCookieValue {
		fmt.Fprintf(os.Stderr, "%s is a provisiond connector plugin: provisiond starts it (connectors: {type: plugin, path: ...});\nit is not meant to be run directly.\n", cfg.Name)
		os.Exit(1)
	}
	ctx := context.Background()
	shutdownTracing, err := setupTracing(ctx, cfg.Name, cfg.Version)
	if err != nil {
		log.Warn("tracing disabled: OTEL_* configuration", "error", err)
	}
	srv := newServer(cfg, versions[len(versions)-1])
	finish := func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		done := make(chan struct{})
		go func() {
			srv.closeAll()
			close(done)
		}()
		select {
		case <-done:
		case <-sctx.Done():
			log.Warn("closing the connector timed out")
		}
		_ = shutdownTracing(sctx)
	}
	watchParent(parentPoll, func(ppid int) {
		log.Warn("provisiond is gone (the parent process changed); exiting", "parentPid", ppid)
		finish()
		os.Exit(2)
	})
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: wire.PluginSet(srv.register, versions...),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.ChainUnaryInterceptor(unaryInterceptor), grpc.ChainStreamInterceptor(streamInterceptor))
			if tracingEnabled() {
				opts = append(opts, grpc.StatsHandler(grpcServerHandler()))
			}
			return grpc.NewServer(opts...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{Name: cfg.Name, JSONFormat: true, Output: stderr,
			Level: hclogLevel(levelFromEnv()), TimeFormat: hclogTime}),
	})
	finish()
}

// watchParent calls gone (once) when the process's parent changes: provisiond died without
// stopping the plugin (on Linux the kernel kills the plugin first, through the parent-death
// signal the host sets; this is the second line, and the only one elsewhere).
func watchParent(every time.Duration, gone func(ppid int)) {
	ppid := os.Getppid()
	if ppid <= 1 {
		return // already orphaned, or started by init: nothing to watch
	}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for range t.C {
			if os.Getppid() != ppid {
				gone(ppid)
				return
			}
		}
	}()
}
