package main

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// platform is the fake Sale Track API. It can be switched off (503) and
// slowed down, and counts each invoice it accepts.
type platform struct {
	off   atomic.Bool
	delay atomic.Int64 // nanoseconds

	mu       sync.Mutex
	invoices map[string]int
	accepted int
}

func newPlatform() *platform { return &platform{invoices: map[string]int{}} }

func (p *platform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if d := time.Duration(p.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	if p.off.Load() {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var ev struct {
		InvoiceID string `json:"invoiceId"`
	}
	json.Unmarshal(body, &ev)
	p.mu.Lock()
	if ev.InvoiceID != "" {
		p.invoices[ev.InvoiceID]++
	}
	p.accepted++
	p.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// reset forgets what was received.
func (p *platform) reset() {
	p.mu.Lock()
	p.invoices = map[string]int{}
	p.accepted = 0
	p.mu.Unlock()
}

// counts returns distinct invoices, total accepted, and invoices seen twice
// or more.
func (p *platform) counts() (distinct, accepted, duplicated int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.invoices {
		if n > 1 {
			duplicated++
		}
	}
	return len(p.invoices), p.accepted, duplicated
}
