package testnet_test

import (
	"context"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// BenchmarkUpDown builds and tears down wan10 (10 nodes, 11 links, about
// 250 routes and SIDs); ns/op is one up plus one down, up-ms and down-ms
// split it.
func BenchmarkUpDown(b *testing.B) {
	labtest.Require(b, "network namespaces")
	topo, err := testnet.Load("wan10")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var up, down time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		lab, err := testnet.Up(context.Background(), topo, testnet.WithName(labtest.UniqueName("bench")))
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := lab.Close(); err != nil {
			b.Fatal(err)
		}
		up += t1.Sub(t0)
		down += time.Since(t1)
	}
	b.ReportMetric(float64(up.Microseconds())/1e3/float64(b.N), "up-ms")
	b.ReportMetric(float64(down.Microseconds())/1e3/float64(b.N), "down-ms")
}
