package ldap_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/ldap"
	"github.com/provisiond/provisiond/connectors/ldap/slapdtest"
)

// The benchmarks run against slapd (PROVISIOND_SLAPD=1) on loopback; they measure the
// connector and slapd together. Operations are issued from GOMAXPROCS×4 goroutines over the
// default pool of 8 connections, as the engine's workers would.

func benchClient(b *testing.B, srv *slapdtest.Server) *ldap.Client {
	cfg := config(srv)
	cfg.PageSize = 500
	c, err := ldap.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func BenchmarkCreate(b *testing.B) {
	srv := slapdtest.Start(b, slapdtest.Options{})
	c := benchClient(b, srv)
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			uid := fmt.Sprintf("bench%07d", n.Add(1))
			if _, err := c.Create(context.Background(), connectors.TypeUser, person(uid)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

func BenchmarkFindAndUpdate(b *testing.B) {
	srv := slapdtest.Start(b, slapdtest.Options{})
	c := benchClient(b, srv)
	const users = 200
	ids := make([]string, users)
	for i := range ids {
		ids[i] = mustCreate(b, c, connectors.TypeUser, person(fmt.Sprintf("fu%04d", i)))
	}
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			i := n.Add(1)
			uid := fmt.Sprintf("fu%04d", i%users)
			found, err := c.Find(ctx, connectors.TypeUser, "uid", uid)
			if err != nil || len(found) != 1 {
				b.Errorf("find %s: %v %v", uid, found, err)
				return
			}
			err = c.Update(ctx, connectors.TypeUser, found[0].ID, []connectors.Modification{{Name: "title", Op: connectors.ModReplace, Value: fmt.Sprint(i)}})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "find+update/s")
}

// BenchmarkSourceFullRead reads 2,000 users per iteration (pages of 500).
func BenchmarkSourceFullRead(b *testing.B) {
	srv := slapdtest.Start(b, slapdtest.Options{})
	conn := srv.Conn()
	const users = 2000
	for i := 0; i < users; i++ {
		srv.AddUser(conn, fmt.Sprintf("r%05d", i), map[string][]string{"mail": {fmt.Sprintf("r%05d@example.org", i)}})
	}
	cfg := config(srv)
	cfg.PageSize = 500
	src, err := ldap.NewSource(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		_, err := src.Read(context.Background(), connectors.ReadRequest{Type: connectors.TypeUser}, func(connectors.Change) error {
			n++
			return nil
		})
		if err != nil || n != users {
			b.Fatalf("read %d: %v", n, err)
		}
	}
	b.ReportMetric(float64(b.N*users)/b.Elapsed().Seconds(), "users/s")
}
