package delivery

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
	"github.com/saletrack/caddy-saletrack/sale"
)

func newPlatform(t *testing.T) *fake.Platform {
	p := fake.NewPlatform()
	t.Cleanup(p.Close)
	return p
}

// platformSink is an HTTP sink that delivers to p.
func platformSink(t *testing.T, p *fake.Platform) *HTTPSink {
	t.Helper()
	s, err := NewHTTPSink(HTTPSinkOptions{Endpoint: p.URL + "/v1/sales", APIKey: testAPIKey, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// acceptedInvoices returns the invoice of each request p accepted,
// sorted: a multiset to compare.
func acceptedInvoices(p *fake.Platform) []string {
	var out []string
	for _, r := range p.Accepted() {
		out = append(out, r.InvoiceID)
	}
	sort.Strings(out)
	return out
}

// emFast are options for real-clock tests: retries within milliseconds.
func emFast() EmitterOptions {
	return EmitterOptions{Concurrency: 4, BackoffBase: time.Millisecond, BackoffCap: 5 * time.Millisecond, ShutdownTimeout: 2 * time.Second}
}

// emFrozen are options for tests on an injected clock: backoff is an hour,
// so nothing is retried until the test moves the clock or flushes.
func emFrozen(clock *obClock) EmitterOptions {
	return EmitterOptions{Concurrency: 4, BackoffBase: time.Hour, BackoffCap: time.Hour, ShutdownTimeout: 2 * time.Second, Now: clock.Now}
}

func emStart(t *testing.T, ob *Outbox, sinks []Sink, opts EmitterOptions) *Emitter {
	t.Helper()
	e := NewEmitter(ob, sinks, opts)
	e.Start()
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return e
}

// waitFor polls cond until it holds; the deadline is generous because it
// is only reached when the test fails.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func enqueueOK(t *testing.T, e *Emitter, ev *sale.Event) {
	t.Helper()
	if res, err := e.Enqueue(ev); err != nil || res != Queued {
		t.Fatalf("Enqueue %s: %v, %v", ev.InvoiceID, res, err)
	}
}

// funcSink is a sink made of a function, for counting and blocking.
type funcSink struct {
	name string
	send func(ctx context.Context, ev *sale.Event) error
}

func (s *funcSink) Name() string                                   { return s.name }
func (s *funcSink) Send(ctx context.Context, ev *sale.Event) error { return s.send(ctx, ev) }
