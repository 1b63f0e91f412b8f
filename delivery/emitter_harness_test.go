package delivery

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/sale"
)

// emReply is the test platform's answer to one attempt.
type emReply struct {
	status int
	header map[string]string
	body   string
}

// emPlatform is a test attribution platform over loopback HTTP. A script
// answers each attempt (numbered from 0 per invoice); it records every
// Idempotency-Key it saw and every invoice it accepted.
type emPlatform struct {
	srv *httptest.Server

	mu       sync.Mutex
	script   func(invoice string, attempt int) emReply
	keys     map[string][]string
	accepted []string
	arrived  chan string // each request's invoice, for tests that wait on one
}

func newEmPlatform(t *testing.T, script func(invoice string, attempt int) emReply) *emPlatform {
	t.Helper()
	p := &emPlatform{script: script, keys: map[string][]string{}, arrived: make(chan string, 1000)}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *emPlatform) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var sale struct {
		InvoiceID string `json:"invoiceId"`
	}
	_ = json.Unmarshal(body, &sale)
	p.mu.Lock()
	attempt := len(p.keys[sale.InvoiceID])
	p.keys[sale.InvoiceID] = append(p.keys[sale.InvoiceID], r.Header.Get("Idempotency-Key"))
	script := p.script
	p.mu.Unlock()
	select {
	case p.arrived <- sale.InvoiceID:
	default: // nobody is waiting; never block the handler
	}

	reply := emReply{status: http.StatusOK}
	if script != nil {
		reply = script(sale.InvoiceID, attempt)
	}
	if reply.status == -1 { // hang until the client gives up
		<-r.Context().Done()
		return
	}
	if reply.status >= 200 && reply.status <= 299 {
		p.mu.Lock()
		p.accepted = append(p.accepted, sale.InvoiceID)
		p.mu.Unlock()
	}
	for k, v := range reply.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(reply.status)
	io.WriteString(w, reply.body)
}

func (p *emPlatform) setScript(script func(invoice string, attempt int) emReply) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.script = script
}

// Accepted returns the accepted invoice ids, sorted: a multiset to compare.
func (p *emPlatform) Accepted() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Clone(p.accepted)
	sort.Strings(out)
	return out
}

// Keys returns the Idempotency-Key of each attempt for an invoice.
func (p *emPlatform) Keys(invoice string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.keys[invoice])
}

func (p *emPlatform) sink(t *testing.T) *HTTPSink {
	t.Helper()
	s, err := NewHTTPSink(HTTPSinkOptions{Endpoint: p.srv.URL + "/v1/sales", APIKey: testAPIKey, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
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
