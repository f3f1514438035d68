package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
)

// newOTLPSinkCmd is `provisiond otlp-sink`: an OTLP/HTTP endpoint that reads and discards
// what it receives (bench --telemetry exports to it, so that what it measures is
// provisiond's own cost, not a backend's). GET /stats answers {"requests":n,"bytes":n}.
func newOTLPSinkCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:    "otlp-sink --addr HOST:PORT",
		Short:  "Accept OTLP/HTTP exports and discard them (for bench --telemetry)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: newOTLPSink(), ReadHeaderTimeout: 10 * time.Second}
			go func() {
				<-cmd.Context().Done()
				_ = srv.Close()
			}()
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:4318", "listen address")
	return cmd
}

// otlpSink counts and discards OTLP/HTTP export requests.
type otlpSink struct {
	requests, bytes atomic.Int64
	mux             *http.ServeMux
}

func newOTLPSink() *otlpSink {
	s := &otlpSink{mux: http.NewServeMux()}
	for _, p := range []string{"/v1/traces", "/v1/metrics", "/v1/logs"} {
		s.mux.HandleFunc("POST "+p, s.export)
	}
	s.mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int64{"requests": s.requests.Load(), "bytes": s.bytes.Load()})
	})
	return s
}

func (s *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// export reads the body and answers with an empty Export*ServiceResponse (zero protobuf
// bytes, or {} for JSON).
func (s *otlpSink) export(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.requests.Add(1)
	s.bytes.Add(n)
	if r.Header.Get("Content-Type") == "application/json" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// otlpSinkChild is `provisiond otlp-sink` running in a child process.
type otlpSinkChild struct {
	cmd *exec.Cmd
	url string
}

func startOTLPSink(ctx context.Context) (*otlpSinkChild, error) {
	cmd, addr, err := startChild(ctx, nil, "otlp-sink")
	if err != nil {
		return nil, fmt.Errorf("the OTLP sink child: %w", err)
	}
	return &otlpSinkChild{cmd: cmd, url: "http://" + addr}, nil
}

// startChild runs this executable with args and --addr of a free loopback port, env added
// to the environment, and waits up to 5 s for it to listen there.
func startChild(ctx context.Context, env []string, args ...string) (*exec.Cmd, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.CommandContext(ctx, exe, append(args, "--addr", addr)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	if err := waitListening(addr); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, "", err
	}
	return cmd, addr, nil
}

// counts returns the requests and bytes the sink received.
func (c *otlpSinkChild) counts() (requests, bytes int64) {
	resp, err := http.Get(c.url + "/stats")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	var v struct{ Requests, Bytes int64 }
	if json.NewDecoder(resp.Body).Decode(&v) != nil {
		return 0, 0
	}
	return v.Requests, v.Bytes
}

func (c *otlpSinkChild) stop() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// waitListening waits up to 5 s for a TCP listener on addr.
func waitListening(addr string) error {
	for i := 0; i < 200; i++ {
		conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s", addr)
}
