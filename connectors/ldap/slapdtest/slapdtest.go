// Package slapdtest runs a real OpenLDAP slapd for tests: a generated slapd.conf in
// t.TempDir() (mdb backend; core, cosine, inetorgperson and nis schemas plus a small
// Active Directory-like schema for userAccountControl; the syncprov, ppolicy and refint
// overlays; a root DN with a password; a read-only service account), listening on free
// loopback ports
// (ldap:// and, with TLS, ldaps:// and StartTLS with a generated CA), started and waited for
// with a bound, and killed on cleanup.
//
// Tests that need it call Start, which skips the test unless PROVISIOND_SLAPD=1 (the
// integration tier, .ci/ldap.sh, sets it after installing the Debian packages slapd and
// ldap-utils).
package slapdtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// EnvVar gates the tests that run slapd.
const EnvVar = "PROVISIOND_SLAPD"

// Directory layout and credentials of every server.
const (
	Suffix        = "dc=example,dc=org"
	AdminDN       = "cn=admin,dc=example,dc=org"
	AdminPassword = "s3cret-admin-pw"
	ReaderDN      = "cn=reader,dc=example,dc=org"
	ReaderPass    = "reader-pw-77"
	PeopleDN      = "ou=People,dc=example,dc=org"
	GroupsDN      = "ou=Groups,dc=example,dc=org"
	// Placeholder is the empty-group placeholder member (the connector's default).
	Placeholder = "cn=empty-membership-placeholder"
)

// Options configure a server.
type Options struct {
	// TLS also serves ldaps:// and StartTLS with a certificate of a generated CA (CAFile).
	TLS bool
	// NoSessionLog leaves syncprov without a session log, so that a syncrepl refresh with
	// a cookie answers with a present phase instead of listing deletes.
	NoSessionLog bool
	// SizeLimit is the size limit for non-root binds (0: slapd's default, 500).
	SizeLimit int
}

// Server is a running slapd.
type Server struct {
	// URL is ldap://127.0.0.1:port; LDAPSURL is ldaps://127.0.0.1:port (TLS only).
	URL, LDAPSURL string
	// CAFile is the PEM file of the CA that signed the server certificate (TLS only).
	CAFile string
	// Dir is the server's directory (config, database, certificates).
	Dir string

	t      testing.TB
	opts   Options
	port   int
	tport  int
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *bytes.Buffer
}

// Binaries returns the path of slapd, or an error naming what is missing.
func Binaries() (string, error) {
	for _, p := range []string{"/usr/sbin/slapd", "/usr/local/libexec/slapd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("slapd"); err == nil {
		return p, nil
	}
	return "", errors.New("slapd not found: install the Debian packages slapd and ldap-utils")
}

// Start starts a server for t (skipping t unless PROVISIOND_SLAPD=1) and seeds the base
// entries: the suffix, ou=People, ou=Groups and the read-only account cn=reader.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if os.Getenv(EnvVar) != "1" {
		t.Skipf("set %s=1 to run the tests against a real OpenLDAP slapd (the Debian packages slapd and ldap-utils); .ci/ldap.sh does", EnvVar)
	}
	bin, err := Binaries()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, opts: opts, Dir: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(s.Dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if opts.TLS {
		if err := s.writeCerts(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "ad.schema"), []byte(adSchema), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "slapd.conf"), []byte(s.config()), 0o600); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken before slapd binds it
		s.port, s.tport = freePort(t), 0
		if opts.TLS {
			s.tport = freePort(t)
		}
		if lastErr = s.start(bin); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatal(lastErr)
	}
	t.Cleanup(s.Stop)
	s.seed()
	return s
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *Server) config() string {
	var b strings.Builder
	for _, sc := range []string{"core", "cosine", "inetorgperson", "nis"} {
		fmt.Fprintf(&b, "include /etc/ldap/schema/%s.schema\n", sc)
	}
	fmt.Fprintf(&b, "include %s\n", filepath.Join(s.Dir, "ad.schema"))
	fmt.Fprintf(&b, "modulepath /usr/lib/ldap\nmoduleload back_mdb\nmoduleload syncprov\nmoduleload ppolicy\nmoduleload refint\n")
	fmt.Fprintf(&b, "pidfile %s\nargsfile %s\n", filepath.Join(s.Dir, "slapd.pid"), filepath.Join(s.Dir, "slapd.args"))
	if s.opts.SizeLimit > 0 {
		fmt.Fprintf(&b, "sizelimit %d\n", s.opts.SizeLimit)
	}
	if s.opts.TLS {
		fmt.Fprintf(&b, "TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n",
			s.CAFile, filepath.Join(s.Dir, "server.pem"), filepath.Join(s.Dir, "server-key.pem"))
	}
	fmt.Fprintf(&b, "database mdb\nmaxsize 104857600\nsuffix %q\nrootdn %q\nrootpw %s\ndirectory %s\n",
		Suffix, AdminDN, AdminPassword, filepath.Join(s.Dir, "db"))
	b.WriteString("index objectClass eq\nindex uid,cn,mail,employeeNumber eq\nindex entryUUID,entryCSN eq\n")
	b.WriteString("access to attrs=userPassword by self write by anonymous auth by * none\n")
	b.WriteString("access to * by * read\n")
	b.WriteString("overlay syncprov\nsyncprov-checkpoint 100 10\n")
	if !s.opts.NoSessionLog {
		b.WriteString("syncprov-sessionlog 1000\n")
	}
	b.WriteString("overlay ppolicy\n")
	// refint keeps member, uniqueMember and manager values right when a user is renamed or
	// deleted (what docs/ldap.md recommends for OpenLDAP).
	b.WriteString("overlay refint\nrefint_attributes member uniqueMember manager\nrefint_nothing \"" + Placeholder + "\"\n")
	return b.String()
}

// adSchema is enough of Active Directory's schema for userAccountControl tests.
const adSchema = `attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'employeeStatus'
  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'provisiondTestUser' AUXILIARY
  MAY ( userAccountControl $ employeeStatus ) )
`

// start launches slapd and waits (at most 10s) until it answers.
func (s *Server) start(bin string) error {
	urls := fmt.Sprintf("ldap://127.0.0.1:%d/", s.port)
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", s.port)
	if s.tport != 0 {
		urls += fmt.Sprintf(" ldaps://127.0.0.1:%d/", s.tport)
		s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", s.tport)
	}
	// -d 0 keeps slapd in the foreground, so that it is our child until we kill it.
	cmd := exec.Command(bin, "-f", filepath.Join(s.Dir, "slapd.conf"), "-h", urls, "-d", "0")
	log := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start slapd: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited, s.log = cmd, exited, log
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := goldap.DialURL(s.URL, goldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
		if err == nil {
			err = conn.Bind(AdminDN, AdminPassword)
			conn.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("slapd exited: %s", strings.TrimSpace(log.String()))
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("slapd did not answer within 10s: %v; log: %s", err, strings.TrimSpace(log.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills slapd (SIGTERM, SIGKILL after 5s) and waits for it.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Restart stops slapd and starts it again on the same ports with the same database.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	bin, err := Binaries()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.start(bin); err != nil {
		s.t.Fatal(err)
	}
}

// Conn returns a connection bound as the root DN (closed on cleanup).
func (s *Server) Conn() *goldap.Conn {
	s.t.Helper()
	conn, err := goldap.DialURL(s.URL)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := conn.Bind(AdminDN, AdminPassword); err != nil {
		conn.Close()
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { conn.Close() })
	return conn
}

func (s *Server) seed() {
	conn := s.Conn()
	add := func(dn string, attrs map[string][]string) {
		req := goldap.NewAddRequest(dn, nil)
		for k, v := range attrs {
			req.Attribute(k, v)
		}
		if err := conn.Add(req); err != nil {
			s.t.Fatalf("seed %s: %v", dn, err)
		}
	}
	add(Suffix, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}})
	add(PeopleDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"People"}})
	add(GroupsDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"Groups"}})
	add(ReaderDN, map[string][]string{"objectClass": {"organizationalRole", "simpleSecurityObject"}, "cn": {"reader"}, "userPassword": {ReaderPass}})
}

// AddUser adds an inetOrgPerson uid=<uid> under ou=People with cn, sn and the extra
// attributes, and returns its DN.
func (s *Server) AddUser(conn *goldap.Conn, uid string, extra map[string][]string) string {
	s.t.Helper()
	dn := "uid=" + goldap.EscapeDN(uid) + "," + PeopleDN
	req := goldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"inetOrgPerson"})
	req.Attribute("uid", []string{uid})
	req.Attribute("cn", []string{uid})
	req.Attribute("sn", []string{uid})
	for k, v := range extra {
		req.Attribute(k, v)
	}
	if err := conn.Add(req); err != nil {
		s.t.Fatalf("add user %s: %v", dn, err)
	}
	return dn
}

// Entry reads one entry (nil when it does not exist) with the given attributes.
func (s *Server) Entry(conn *goldap.Conn, dn string, attrs ...string) *goldap.Entry {
	s.t.Helper()
	if len(attrs) == 0 {
		attrs = []string{"*", "+"}
	}
	res, err := conn.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", attrs, nil))
	if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return nil
	}
	if err != nil {
		s.t.Fatalf("read %s: %v", dn, err)
	}
	if len(res.Entries) == 0 {
		return nil
	}
	return res.Entries[0]
}

// Search returns the DNs under base matching filter.
func (s *Server) Search(conn *goldap.Conn, base, filter string) []string {
	s.t.Helper()
	res, err := conn.SearchWithPaging(goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, filter, []string{"1.1"}, nil), 1000)
	if err != nil {
		s.t.Fatalf("search %s %s: %v", base, filter, err)
	}
	out := make([]string, len(res.Entries))
	for i, e := range res.Entries {
		out[i] = e.DN
	}
	return out
}

// writeCerts generates a CA and a server certificate for 127.0.0.1 and localhost.
func (s *Server) writeCerts() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "provisiond test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	s.CAFile = filepath.Join(s.Dir, "ca.pem")
	files := map[string][]byte{
		s.CAFile:                               pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		filepath.Join(s.Dir, "server.pem"):     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		filepath.Join(s.Dir, "server-key.pem"): pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	for p, b := range files {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// Port returns the ldap:// port.
func (s *Server) Port() string { return strconv.Itoa(s.port) }
