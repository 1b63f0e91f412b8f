package fake

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// waitTimeout bounds the Wait methods. It is generous because it is only
// reached when a test fails.
var waitTimeout = 30 * time.Second

// TB is the part of testing.TB the Wait methods use.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Request is one request as the platform received it.
type Request struct {
	// Method is the request's method: POST from a sink.
	Method string
	// Path is the URL's path, without the query.
	Path string
	// Header is a copy of the request's headers: Authorization,
	// Idempotency-Key, the signature headers…
	Header http.Header
	// Body is the request's whole body.
	Body string
	// InvoiceID is the body's top-level invoiceId, "" when it has none.
	InvoiceID string
	// Attempt counts the earlier requests that carried the same InvoiceID.
	Attempt int
	// Status is what the platform answered, 0 until it has (and for ever
	// when it never did: a hang, a client that gave up, Down).
	Status int
}

// IdempotencyKey is the request's Idempotency-Key header.
func (r Request) IdempotencyKey() string { return r.Header.Get("Idempotency-Key") }

// Accepted reports whether the platform answered 2xx.
func (r Request) Accepted() bool { return r.Status >= 200 && r.Status <= 299 }

// Reply is the platform's answer to one request. The zero Reply accepts.
type Reply struct {
	// Status is the answer's status. 0 accepts as a real API does: 202
	// with a small JSON body when the request's body is JSON, else 400.
	Status int
	// Header is set on the answer, Retry-After for example.
	Header map[string]string
	// Body is the answer's body.
	Body string
	// Delay holds the answer back this long: a slow platform. A client
	// that gives up meanwhile gets nothing.
	Delay time.Duration
	// Hang never answers: the request waits until its client gives up or
	// the platform goes down.
	Hang bool
}

// acceptedBody is the body of the zero Reply's 202. A body, not an empty
// answer: Go's client returns an empty response before it has handed its
// connection back, which would make counts of connections racy.
const acceptedBody = `{"ok":true}`

// Platform is a fake attribution platform: it records every request and
// answers as its mode says. All methods are safe for concurrent use.
type Platform struct {
	// URL is http://127.0.0.1:port, the same for the platform's life,
	// across Down and Up.
	URL  string
	addr string

	conns   atomic.Int64
	hanging atomic.Int64 // requests held by Hang right now

	life     sync.Mutex // serialises Down, Up and Close
	srv      *http.Server
	reserved *os.File // the port, held while the platform is down

	mu       sync.Mutex
	script   func(Request) Reply
	requests []*Request
	accepted int // requests answered 2xx
	epoch    int // counts Resets, so a request from before one is not counted after it
	attempts map[string]int
	changed  chan struct{} // closed and replaced when requests change
	stop     chan struct{} // closed when the current server goes down
}

// NewPlatform starts a platform that accepts every request, on a loopback
// port the OS picks. It panics if it cannot listen. Close stops it.
func NewPlatform() *Platform {
	lis, err := listenConfig.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		panic("fake: platform: " + err.Error())
	}
	p := &Platform{addr: lis.Addr().String(), attempts: map[string]int{}, changed: make(chan struct{})}
	p.URL = "http://" + p.addr
	p.serve(lis)
	return p
}

// serve runs a new server on lis; an http.Server cannot serve again once
// it is closed.
func (p *Platform) serve(lis net.Listener) {
	stop := make(chan struct{})
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.handle(w, r, stop) }),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, state http.ConnState) {
			if state == http.StateNew {
				p.conns.Add(1)
			}
		},
	}
	p.mu.Lock()
	p.stop = stop
	p.mu.Unlock()
	go p.srv.Serve(lis)
}

func (p *Platform) handle(w http.ResponseWriter, r *http.Request, stop chan struct{}) {
	body, _ := io.ReadAll(r.Body)
	var fields struct {
		InvoiceID string `json:"invoiceId"`
	}
	isJSON := json.Unmarshal(body, &fields) == nil
	req := &Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body), InvoiceID: fields.InvoiceID}
	p.mu.Lock()
	req.Attempt = p.attempts[req.InvoiceID]
	p.attempts[req.InvoiceID]++
	p.requests = append(p.requests, req)
	epoch := p.epoch
	p.notifyLocked()
	script := p.script
	p.mu.Unlock()

	var reply Reply
	if script != nil {
		reply = script(*req)
	}
	if reply.Hang {
		p.hanging.Add(1)
		defer p.hanging.Add(-1)
		select {
		case <-r.Context().Done():
		case <-stop:
		}
		return
	}
	if reply.Delay > 0 {
		timer := time.NewTimer(reply.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		case <-stop:
			return
		}
	}
	status, answer := reply.Status, reply.Body
	if status == 0 && isJSON {
		status, answer = http.StatusAccepted, acceptedBody
	} else if status == 0 {
		status, answer = http.StatusBadRequest, "the body is not JSON"
	}
	p.mu.Lock()
	req.Status = status
	if req.Accepted() && epoch == p.epoch {
		p.accepted++
	}
	p.notifyLocked()
	p.mu.Unlock()
	for k, v := range reply.Header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(status)
	io.WriteString(w, answer)
}

func (p *Platform) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Script makes f decide the answer to each request; nil accepts every
// request. f runs on each request's own goroutine, concurrently.
func (p *Platform) Script(f func(Request) Reply) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.script = f
}

// Accept makes the platform accept every request, as it does at first.
func (p *Platform) Accept() { p.Script(nil) }

// Fail makes the platform answer every request with status and body.
func (p *Platform) Fail(status int, body string) {
	p.Script(func(Request) Reply { return Reply{Status: status, Body: body} })
}

// RetryAfter makes the platform answer every request with status and a
// Retry-After header of after (seconds, or an HTTP date).
func (p *Platform) RetryAfter(status int, after string) {
	p.Script(func(Request) Reply { return Reply{Status: status, Header: map[string]string{"Retry-After": after}} })
}

// Slow makes the platform accept every request after d.
func (p *Platform) Slow(d time.Duration) {
	p.Script(func(Request) Reply { return Reply{Delay: d} })
}

// Hang makes the platform answer no request: each waits until its client
// gives up or the platform goes down.
func (p *Platform) Hang() {
	p.Script(func(Request) Reply { return Reply{Hang: true} })
}

// Down closes the listener and every connection: a request in flight gets
// no answer and a new connection is refused. The port stays reserved where
// the OS allows it (Linux), so Up gets the same address back.
func (p *Platform) Down() {
	p.life.Lock()
	defer p.life.Unlock()
	p.downLocked()
}

func (p *Platform) downLocked() {
	if p.srv == nil {
		return
	}
	p.srv.Close()
	p.srv = nil
	p.mu.Lock()
	close(p.stop)
	p.mu.Unlock()
	p.reserved = reserve(p.addr)
}

// Up listens again on the platform's address after Down.
func (p *Platform) Up() error {
	p.life.Lock()
	defer p.life.Unlock()
	if p.srv != nil {
		return nil
	}
	lis, err := listenAgain(p.reserved, p.addr)
	p.reserved = nil
	if err != nil {
		return err
	}
	p.serve(lis)
	return nil
}

// Close stops the platform for good.
func (p *Platform) Close() {
	p.life.Lock()
	defer p.life.Unlock()
	p.downLocked()
	if p.reserved != nil {
		p.reserved.Close()
		p.reserved = nil
	}
}

// Requests returns every request so far, in the order they arrived.
func (p *Platform) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snapshotLocked()
}

func (p *Platform) snapshotLocked() []Request {
	out := make([]Request, len(p.requests))
	for i, r := range p.requests {
		out[i] = *r
	}
	return out
}

// Accepted returns the requests the platform answered 2xx, in the order
// they arrived.
func (p *Platform) Accepted() []Request {
	var out []Request
	for _, r := range p.Requests() {
		if r.Accepted() {
			out = append(out, r)
		}
	}
	return out
}

// Invoices counts the accepted requests per invoice id; requests without
// one are left out.
func (p *Platform) Invoices() map[string]int {
	return invoicesOf(p.Requests())
}

func invoicesOf(reqs []Request) map[string]int {
	counts := map[string]int{}
	for _, r := range reqs {
		if r.Accepted() && r.InvoiceID != "" {
			counts[r.InvoiceID]++
		}
	}
	return counts
}

// Keys returns the Idempotency-Key of every request for invoice, in the
// order they arrived.
func (p *Platform) Keys(invoice string) []string {
	var keys []string
	for _, r := range p.Requests() {
		if r.InvoiceID == invoice {
			keys = append(keys, r.IdempotencyKey())
		}
	}
	return keys
}

// Counts returns how many requests arrived and how many the platform
// answered 2xx since the start or the last Reset, without copying them:
// cheap enough to poll under load.
func (p *Platform) Counts() (received, accepted int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.requests), p.accepted
}

// Hanging returns how many requests Hang holds right now: one whose
// client gave up no longer counts.
func (p *Platform) Hanging() int { return int(p.hanging.Load()) }

// Conns counts the TCP connections the platform has accepted.
func (p *Platform) Conns() int { return int(p.conns.Load()) }

// Reset forgets every request so far.
func (p *Platform) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = nil
	p.accepted = 0
	p.epoch++
	p.attempts = map[string]int{}
	p.notifyLocked()
}

// WaitRequests waits until the platform has received n requests, answered
// or not, and returns them all. It fails t after 30 seconds.
func (p *Platform) WaitRequests(t TB, n int) []Request {
	t.Helper()
	reqs, ok := p.wait(func(reqs []Request) bool { return len(reqs) >= n })
	if !ok {
		t.Fatalf("fake platform: %d requests after %s, want %d", len(reqs), waitTimeout, n)
	}
	return reqs
}

// WaitInvoices waits until each of invoices has been accepted at least
// once and returns Invoices. It fails t after 30 seconds.
func (p *Platform) WaitInvoices(t TB, invoices ...string) map[string]int {
	t.Helper()
	var missing []string
	reqs, ok := p.wait(func(reqs []Request) bool {
		counts := invoicesOf(reqs)
		missing = missing[:0]
		for _, id := range invoices {
			if counts[id] == 0 {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0
	})
	if !ok {
		t.Fatalf("fake platform: %d of %d invoices never arrived (%d requests), first missing %v", len(missing), len(invoices), len(reqs), missing[:min(len(missing), 10)])
	}
	return invoicesOf(reqs)
}

// wait waits until cond holds for the requests so far, or waitTimeout
// passes; it returns the last requests and whether cond held.
func (p *Platform) wait(cond func([]Request) bool) ([]Request, bool) {
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		reqs, changed := p.snapshotLocked(), p.changed
		p.mu.Unlock()
		if cond(reqs) {
			return reqs, true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return reqs, false
		}
	}
}

// listenRetry listens on addr, retrying for a while: a port just let go of
// may not be free again at once.
func listenRetry(addr string) (net.Listener, error) {
	var err error
	for range 50 {
		var lis net.Listener
		if lis, err = listenConfig.Listen(context.Background(), "tcp", addr); err == nil {
			return lis, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, err
}
