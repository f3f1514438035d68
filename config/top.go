package config

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxSecretFile bounds what is read from a secret file.
const maxSecretFile = 64 << 10

// config decodes the whole file.
func (d *decoder) config(root *yaml.Node) *Config {
	cfg := &Config{Connectors: map[string]ConnectorConfig{}}
	if isNull(root) {
		d.errorf(nil, "", "the file is empty: want a mapping with connectors and jobs")
		return cfg
	}
	top := d.object(root, "")
	if top.node == nil {
		return cfg
	}
	top.extensions = true

	cfg.DataDir = d.abs(DefaultDataDir)
	if f := top.get("dataDir"); f.present() {
		if p, ok := f.filePath(); ok {
			cfg.DataDir = p
		}
	}
	cfg.Store = d.store(top.get("store").object(), cfg.DataDir)
	cfg.API = d.api(top.get("api").object())
	cfg.Retention.Events = DefaultEventRetention
	ret := top.get("retention").object()
	if f := ret.get("events"); f.present() {
		if v, ok := f.durationOrZero(); ok { // 0 keeps events forever
			cfg.Retention.Events = v
		}
	}
	ret.end()

	conns := top.get("connectors")
	if conns.need() {
		cfg.Connectors = d.connectors(conns)
	}
	if jobs := top.get("jobs"); jobs.need() {
		cfg.Jobs = d.jobs(jobs, cfg.Connectors, conns.present())
	}
	top.end()
	return cfg
}

func (d *decoder) store(o *obj, dataDir string) StoreConfig {
	s := StoreConfig{Driver: DriverSQLite}
	if f := o.get("driver"); f.present() {
		s.Driver, _ = f.enum("driver", DriverSQLite, DriverPostgres)
	}
	path := o.get("path")
	switch s.Driver {
	case DriverSQLite:
		o.get("dsn").notWith("driver sqlite")
		o.get("dsnFile").notWith("driver sqlite")
		o.get("leaseTTL").notWith("driver sqlite")
		p := DefaultSQLitePath
		if path.present() {
			if v, ok := path.nonEmpty(); ok {
				p = v
			}
		}
		if filepath.IsAbs(p) {
			s.Path = filepath.Clean(p)
		} else {
			s.Path = filepath.Join(dataDir, p)
		}
	case DriverPostgres:
		path.notWith("driver postgres")
		s.DSN = o.secret("dsn", true, "")
		if f := o.get("leaseTTL"); f.present() {
			if v, ok := f.duration(); ok {
				if v < MinLeaseTTL {
					f.errorf("must be at least %s (leases are renewed every third of it), got %s", MinLeaseTTL, v)
				} else {
					s.LeaseTTL = v
				}
			}
		}
	default:
		o.ignoreRest()
	}
	o.end()
	return s
}

func (d *decoder) api(o *obj) APIConfig {
	a := APIConfig{Addr: DefaultAddr}
	if f := o.get("addr"); f.present() {
		if t, ok := f.scalar("a string"); ok {
			if validAddr(t.s) {
				a.Addr = t.s
			} else {
				f.errorf(`invalid address %s: want host:port, e.g. "127.0.0.1:8080" or ":8080"`, t.q())
			}
		}
	}
	a.ReaderToken = o.secret("readerToken", false, EnvReaderToken)
	a.AdminToken = o.secret("adminToken", false, EnvAdminToken)
	if a.AdminToken != "" && a.AdminToken == a.ReaderToken {
		o.get("adminToken").errorf("must differ from readerToken (a reader would have admin rights)")
	}
	o.end()
	return a
}

func validAddr(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

// secret resolves a secret given inline (key: value, or ${VAR}) or in a file (keyFile:
// path); at most one of them may be set. override, when not empty, names an environment
// variable that takes precedence over both. No message ever shows the value.
func (o *obj) secret(key string, required bool, override string) Secret {
	inline, file := o.get(key), o.get(key+"File")
	if override != "" {
		if v, ok := o.d.env(override); ok && v != "" {
			return Secret(v)
		}
	}
	switch {
	case inline.present() && file.present():
		file.errorf("set %s or %sFile, not both", key, key)
	case inline.present():
		if s, ok := inline.nonEmpty(); ok {
			return Secret(s)
		}
	case file.present():
		if s, ok := file.secretFile(); ok {
			return Secret(s)
		}
	case required:
		inline.errorf("required (or %sFile)", key)
	}
	return ""
}

// secretFile reads the secret in the file f names; surrounding white space is dropped.
func (f field) secretFile() (string, bool) {
	p, ok := f.filePath()
	if !ok {
		return "", false
	}
	fh, err := os.Open(p)
	if err != nil {
		f.errorf("cannot read secret file %q: %s", p, pathErr(err))
		return "", false
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxSecretFile+1))
	switch {
	case err != nil:
		f.errorf("cannot read secret file %q: %s", p, pathErr(err))
		return "", false
	case len(data) > maxSecretFile:
		f.errorf("secret file %q is larger than %d KiB", p, maxSecretFile>>10)
		return "", false
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		f.errorf("secret file %q is empty", p)
		return "", false
	}
	return s, true
}
