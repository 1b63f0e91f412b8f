package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/natstest"
)

// fleet runs two Caddy nodes joined to a three-server NATS cluster (in
// this process): the capture ratio against bare with the fleet's commit
// (claim and publish, waiting for the ack), and the sales per second
// delivered end to end, captured on both nodes at once.
func (b *bench) fleet() []row {
	fmt.Fprintln(os.Stderr, "fleet: two nodes on a three-server NATS cluster")
	env := &benchEnv{}
	defer env.cleanup()
	cluster := natstest.StartCluster(env)
	nats := "nats " + cluster.URL()
	p1, bare1, mod1 := b.start("fleet1", nats)
	defer p1.stop()
	p2, _, mod2 := b.start("fleet2", nats)
	defer p2.stop()

	bare, mod := b.ab(p1, bare1, mod1, true)
	p1.waitDrained(2 * time.Minute)
	ratio := mod.rps / bare.rps

	b.plat.Reset()
	start := time.Now()
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i, url := range []string{mod1, mod2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = load(url+checkoutPath, b.conns/2, b.phase, 0, true)
		}()
	}
	wg.Wait()
	captured := results[0].requests + results[1].requests
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if _, accepted := b.plat.Counts(); accepted >= captured || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	_, accepted := b.plat.Counts()
	rate := float64(accepted) / took.Seconds()
	fmt.Fprintf(os.Stderr, "  captured %d on two nodes, %d delivered in %s\n", captured, accepted, took.Round(time.Millisecond))
	return []row{
		{"fleet: capture route vs bare (one node of two, NATS commit)", fmt.Sprintf("%.2f (%.0f/s vs %.0f/s)", ratio, mod.rps, bare.rps), ratio >= 0.5},
		{"fleet: sales/s delivered end to end (two nodes)", fmt.Sprintf("%.0f/s (%d of %d captured)", rate, accepted, captured), accepted == captured},
	}
}

// benchEnv gives natstest what it needs outside a test: temporary
// directories and cleanups; a failure ends the benchmark.
type benchEnv struct {
	mu  sync.Mutex
	fns []func()
}

func (e *benchEnv) Helper() {}

func (e *benchEnv) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (e *benchEnv) TempDir() string {
	dir, err := os.MkdirTemp("", "saletrack-bench-nats-")
	must(err)
	e.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (e *benchEnv) Cleanup(fn func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fns = append(e.fns, fn)
}

func (e *benchEnv) cleanup() {
	for i := len(e.fns) - 1; i >= 0; i-- {
		e.fns[i]()
	}
}
