package delivery

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/sale"
)

// Many fast sends on many workers: every event reaches the sink exactly
// once. A lease reads a bbolt snapshot, and a send that finished after the
// snapshot was taken once let the stale snapshot lease its event again
// (bench/run saw one duplicate in 100,000); release now waits for a lease
// in progress. The race is rare: this load did not reproduce it before the
// fix, so it guards against gross regressions, and bench/run's outage
// check (each sale once in 100,000) is the stronger one.
func TestEmitterSendsEachEventOnceUnderLoad(t *testing.T) {
	ob := obOpen(t, OutboxOptions{})
	var mu sync.Mutex
	got := map[string]int{}
	sink := &funcSink{name: "count", send: func(_ context.Context, ev *sale.Event) error {
		mu.Lock()
		got[ev.InvoiceID]++
		mu.Unlock()
		return nil
	}}
	opts := emFast()
	opts.Concurrency = 16
	e := emStart(t, ob, []Sink{sink}, opts)
	const n = 3000
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				enqueueOK(t, e, obSale(t, fmt.Sprintf("inv_once_%d", i), time.Now()))
			}
		}(w)
	}
	wg.Wait()
	waitFor(t, "every event delivered", func() bool { return e.Stats().Queued == 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n {
		t.Fatalf("%d distinct events delivered, want %d", len(got), n)
	}
	for id, c := range got {
		if c != 1 {
			t.Errorf("%s delivered %d times", id, c)
		}
	}
}

// While outbox writes fail, the worker leases at most once per hold-off:
// leaseErrorPause doubling per consecutive failure, capped.
func TestWriteHoldOff(t *testing.T) {
	var e Emitter
	last := time.Now()
	if d := e.writeHoldOff(last); d != 0 {
		t.Fatalf("no failures: hold-off %s, want 0", d)
	}
	for failures, want := range map[int64]time.Duration{1: leaseErrorPause, 2: 2 * leaseErrorPause, 3: 4 * leaseErrorPause, 50: leaseErrorPauseMax} {
		e.writeFailures.Store(failures)
		d := e.writeHoldOff(last)
		if d > want || d < want-time.Second {
			t.Errorf("%d failures: hold-off %s, want about %s", failures, d, want)
		}
	}
	e.writeFailures.Store(1)
	if d := e.writeHoldOff(last.Add(-time.Hour)); d > 0 {
		t.Errorf("a lease an hour ago: hold-off %s, want none", d)
	}
}
