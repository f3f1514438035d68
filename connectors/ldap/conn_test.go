package ldap_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/ldap"
	"github.com/provisiond/provisiond/connectors/ldap/slapdtest"
)

// TestErrorClasses provokes each error class the server can produce and checks the class,
// the code, the result code and the request, and that the password shows nowhere.
func TestErrorClasses(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	ctx := context.Background()
	admin := newClient(t, config(srv))
	mustCreate(t, admin, connectors.TypeUser, person("taken"))

	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "ldap://" + addr
	}()
	with := func(mut func(*ldap.Config)) *ldap.Client {
		cfg := config(srv)
		mut(&cfg)
		return newClient(t, cfg)
	}
	cases := []struct {
		name    string
		run     func() error
		class   connectors.ErrorClass
		code    string
		status  int
		request string
	}{
		{"wrong password", func() error {
			return with(func(c *ldap.Config) { c.BindPassword = "wrong-password-123" }).Test(ctx)
		}, connectors.ClassUnauthorized, ldap.CodeUnauthorized, 49, "bind " + slapdtest.AdminDN},
		{"unknown bind DN", func() error {
			_, err := with(func(c *ldap.Config) { c.BindDN = "cn=nobody," + slapdtest.Suffix }).Get(ctx, connectors.TypeUser, "uid=taken,"+slapdtest.PeopleDN)
			return err
		}, connectors.ClassUnauthorized, ldap.CodeUnauthorized, 49, "bind cn=nobody," + slapdtest.Suffix},
		{"read-only account writes", func() error {
			_, err := with(func(c *ldap.Config) { c.BindDN, c.BindPassword = slapdtest.ReaderDN, slapdtest.ReaderPass }).Create(ctx, connectors.TypeUser, person("nope"))
			return err
		}, connectors.ClassForbidden, ldap.CodeInsufficientRights, 50, "add uid=nope," + slapdtest.PeopleDN},
		{"missing entry", func() error {
			return admin.Update(ctx, connectors.TypeUser, "uid=ghost,"+slapdtest.PeopleDN, []connectors.Modification{{Name: "mail", Op: connectors.ModReplace, Value: "g@x.org"}})
		}, connectors.ClassNotFound, ldap.CodeInvalidAnchor, 32, "modify uid=ghost," + slapdtest.PeopleDN},
		{"existing DN", func() error {
			_, err := admin.Create(ctx, connectors.TypeUser, person("taken"))
			return err
		}, connectors.ClassConflict, ldap.CodeEntryConflict, 68, "add uid=taken," + slapdtest.PeopleDN},
		{"missing required attribute", func() error {
			_, err := admin.Create(ctx, connectors.TypeUser, connectors.Attributes{"uid": "nosn", "cn": "x"})
			return err
		}, connectors.ClassInvalid, ldap.CodeObjectClassViolation, 65, "add uid=nosn," + slapdtest.PeopleDN},
		{"constraint (single-valued)", func() error {
			return admin.Update(ctx, connectors.TypeUser, "uid=taken,"+slapdtest.PeopleDN, []connectors.Modification{{Name: "preferredLanguage", Op: connectors.ModReplace, Value: []string{"en", "de"}}})
		}, connectors.ClassInvalid, ldap.CodeConstraintViolation, 19, "modify uid=taken," + slapdtest.PeopleDN},
		{"syntax", func() error {
			return admin.Update(ctx, connectors.TypeUser, "uid=taken,"+slapdtest.PeopleDN, []connectors.Modification{{Name: "manager", Op: connectors.ModReplace, Value: "not a DN"}})
		}, connectors.ClassInvalid, ldap.CodeInvalidValue, 21, "modify uid=taken," + slapdtest.PeopleDN},
		{"missing base DN", func() error {
			return with(func(c *ldap.Config) { c.Users.BaseDN = "ou=Nowhere," + slapdtest.Suffix }).Test(ctx)
		}, connectors.ClassInvalid, ldap.CodeInvalidAnchor, 32, "search ou=Nowhere," + slapdtest.Suffix},
		{"connection refused", func() error {
			return with(func(c *ldap.Config) { c.URL = closedPort }).Test(ctx)
		}, connectors.ClassConnection, ldap.CodeConnectionFailed, 0, "connect " + strings.TrimPrefix(closedPort, "ldap://")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			ce := connError(t, err, tc.class, tc.code)
			if ce.Status != tc.status || ce.Request != tc.request {
				t.Errorf("status %d request %q, want %d %q (%v)", ce.Status, ce.Request, tc.status, tc.request, ce)
			}
			for _, pw := range []string{slapdtest.AdminPassword, slapdtest.ReaderPass, "wrong-password-123"} {
				if strings.Contains(fmt.Sprintf("%v %+v %#v", err, ce, ce), pw) {
					t.Errorf("the password shows in %v", err)
				}
			}
		})
	}
}

// TestCalls checks that every LDAP operation is recorded with its DN and result, and that
// the bind password never is.
func TestCalls(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	c := newClient(t, config(srv))
	ctx, log := connectors.WithCallLog(context.Background())
	id := mustCreate(t, c, connectors.TypeUser, person("calls"))
	_, _ = c.Create(ctx, connectors.TypeUser, person("calls"))
	_ = c.Update(ctx, connectors.TypeUser, id, []connectors.Modification{{Name: "uid", Op: connectors.ModReplace, Value: "calls2"}})
	_, _ = c.Find(ctx, connectors.TypeUser, "uid", "calls2")
	_ = c.Delete(ctx, connectors.TypeUser, id)
	calls := log.Take()
	var got []string
	for _, cl := range calls {
		got = append(got, fmt.Sprintf("%s %s %d", cl.Method, cl.Target, cl.Status))
		if cl.DurationInMilliseconds < 0 || cl.Start.IsZero() {
			t.Errorf("call %+v without timing", cl)
		}
		if strings.Contains(fmt.Sprintf("%+v", cl), slapdtest.AdminPassword) {
			t.Errorf("password in call %+v", cl)
		}
	}
	// The pool is warm (mustCreate dialed), so no connect/bind calls: one call per operation.
	want := []string{
		"add uid=calls," + slapdtest.PeopleDN + " 68",
		"modifyDN uid=calls," + slapdtest.PeopleDN + " 0",
		"modify uid=calls2," + slapdtest.PeopleDN + " 0",
		"search " + slapdtest.PeopleDN + "?sub?(&(objectClass=inetOrgPerson)(uid=calls2)) 0",
		"delete uid=calls2," + slapdtest.PeopleDN + " 0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A cold client records connecting and binding too, never the password.
	cold := newClient(t, config(srv))
	ctx2, log2 := connectors.WithCallLog(context.Background())
	if _, err := cold.Find(ctx2, connectors.TypeUser, "uid", "x"); err != nil {
		t.Fatal(err)
	}
	var methods []string
	for _, cl := range log2.Take() {
		methods = append(methods, cl.Method+" "+cl.Target)
	}
	if strings.Join(methods, ",") != "connect "+srv.URL+",bind "+slapdtest.AdminDN+",search "+slapdtest.PeopleDN+"?sub?(&(objectClass=inetOrgPerson)(uid=x))" {
		t.Errorf("cold calls %v", methods)
	}
}

// TestReconnect restarts slapd under a client with pooled connections: the next operations
// replace the dead connections and succeed.
func TestReconnect(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	c := newClient(t, config(srv))
	ctx := context.Background()
	mustCreate(t, c, connectors.TypeUser, person("before"))
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ { // fill the pool with several idle connections
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.Find(ctx, connectors.TypeUser, "uid", "before")
		}()
	}
	wg.Wait()
	srv.Restart()
	for i := 0; i < 6; i++ {
		if _, err := c.Find(ctx, connectors.TypeUser, "uid", "before"); err != nil {
			t.Fatalf("after restart, find %d: %v", i, err)
		}
	}
	mustCreate(t, c, connectors.TypeUser, person("after"))
	srv.Stop()
	_, err := c.Find(ctx, connectors.TypeUser, "uid", "before")
	connError(t, err, connectors.ClassConnection, ldap.CodeConnectionFailed)
}

// TestTimeout: a server that stops answering (frozen with SIGSTOP) makes operations fail
// as retryable timeouts after Timeout, not hang; once it answers again the client recovers.
func TestTimeout(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	cfg := config(srv)
	cfg.Timeout = 300 * time.Millisecond
	c := newClient(t, cfg)
	ctx := context.Background()
	mustCreate(t, c, connectors.TypeUser, person("slow"))
	thaw := srv.Freeze()
	_, err := c.Find(ctx, connectors.TypeUser, "uid", "slow")
	if ce := connError(t, err, connectors.ClassRetryable, ldap.CodeTimeout); !ce.Class.Retryable() {
		t.Errorf("%v is not retried", ce)
	}
	thaw()
	if _, err := c.Find(ctx, connectors.TypeUser, "uid", "slow"); err != nil {
		t.Errorf("after the server answers again: %v", err)
	}
}

// TestCancel: a cancelled context returns the context's error, and the client stays usable.
func TestCancel(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	c := newClient(t, config(srv))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Find(ctx, connectors.TypeUser, "uid", "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled find: %v", err)
	}
	// Cancel in the middle of a listing.
	for i := 0; i < 12; i++ {
		mustCreate(t, c, connectors.TypeUser, person(fmt.Sprintf("c%02d", i)))
	}
	ctx, cancel = context.WithCancel(context.Background())
	n := 0
	err := c.List(ctx, connectors.TypeUser, []string{"uid"}, func(connectors.TargetObject) error {
		if n++; n == 6 {
			cancel()
			time.Sleep(10 * time.Millisecond) // let the cancellation close the connection
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) && err != nil {
		t.Errorf("listing cancelled mid-way: %v", err)
	}
	if _, err := c.Find(context.Background(), connectors.TypeUser, "uid", "c01"); err != nil {
		t.Errorf("after cancellation: %v", err)
	}
}

// TestConcurrent runs creates, updates, finds, membership changes and disables from many
// goroutines over a pool of 3 connections (run with -race).
func TestConcurrent(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	cfg := config(srv)
	cfg.MaxConnections = 3
	c := newClient(t, cfg)
	ctx := context.Background()
	g := mustCreate(t, c, connectors.TypeGroup, connectors.Attributes{"cn": "all"})
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				uid := fmt.Sprintf("w%d-%d", w, i)
				o, err := c.Create(ctx, connectors.TypeUser, person(uid))
				if err == nil {
					err = c.Update(ctx, connectors.TypeUser, o.ID, []connectors.Modification{{Name: "title", Op: connectors.ModReplace, Value: "T"}})
				}
				if err == nil {
					err = c.AddMembers(ctx, g, []string{o.ID})
				}
				if err == nil {
					var f []connectors.TargetObject
					f, err = c.Find(ctx, connectors.TypeUser, "uid", uid)
					if err == nil && len(f) != 1 {
						err = fmt.Errorf("find %s: %d", uid, len(f))
					}
				}
				if err == nil && i%3 == 0 {
					err = c.Disable(ctx, connectors.TypeUser, o.ID)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	conn := srv.Conn()
	if got := members(t, srv, conn, g, "member"); len(got) != workers*each {
		t.Errorf("%d members, want %d", len(got), workers*each)
	}
	if st := c.Stats(); st.Connections > 3 || st.Requests < workers*each*4 {
		t.Errorf("stats %+v: at most 3 connections", st)
	}
}

func TestTLS(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{TLS: true})
	ctx := context.Background()
	cases := []struct {
		name  string
		mut   func(*ldap.Config)
		class connectors.ErrorClass
	}{
		{"StartTLS with the CA", func(c *ldap.Config) { c.StartTLS, c.TLS.CAFile = true, srv.CAFile }, ""},
		{"ldaps with the CA", func(c *ldap.Config) { c.URL, c.TLS.CAFile = srv.LDAPSURL, srv.CAFile }, ""},
		{"ldaps by host name", func(c *ldap.Config) {
			c.URL, c.TLS.CAFile = strings.Replace(srv.LDAPSURL, "127.0.0.1", "localhost", 1), srv.CAFile
		}, ""},
		{"StartTLS without the CA", func(c *ldap.Config) { c.StartTLS = true }, connectors.ClassConnection},
		{"ldaps without the CA", func(c *ldap.Config) { c.URL = srv.LDAPSURL }, connectors.ClassConnection},
		{"ldaps, wrong server name", func(c *ldap.Config) {
			c.URL, c.TLS.CAFile, c.TLS.ServerName = srv.LDAPSURL, srv.CAFile, "ldap.example.org"
		}, connectors.ClassConnection},
		{"StartTLS, insecureSkipVerify", func(c *ldap.Config) { c.StartTLS, c.TLS.InsecureSkipVerify = true, true }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(srv)
			tc.mut(&cfg)
			c := newClient(t, cfg)
			err := c.Test(ctx)
			if tc.class == "" {
				if err != nil {
					t.Fatal(err)
				}
				mustCreate(t, c, connectors.TypeUser, person(strings.ReplaceAll(tc.name, " ", "-")))
				return
			}
			ce := connError(t, err, tc.class, ldap.CodeConnectionFailed)
			if !strings.Contains(ce.Message, "TLS") && !strings.Contains(ce.Message, "certificate") {
				t.Errorf("message %q does not say TLS", ce.Message)
			}
		})
	}
	t.Run("insecureSkipVerify is warned about", func(t *testing.T) {
		var buf strings.Builder
		cfg := config(srv)
		cfg.StartTLS, cfg.TLS.InsecureSkipVerify = true, true
		cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
		newClient(t, cfg)
		if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "insecureSkipVerify") || strings.Contains(buf.String(), slapdtest.AdminPassword) {
			t.Errorf("log %q", buf.String())
		}
	})
	t.Run("bad CA file", func(t *testing.T) {
		cfg := config(srv)
		cfg.TLS.CAFile = os.DevNull
		if _, err := ldap.New(cfg); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
			t.Errorf("err %v", err)
		}
	})
}
