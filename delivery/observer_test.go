package delivery

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// The observer hears of each delivery and each dead letter once, with the
// event and, for a dead letter, why.
func TestEmitterObserverHearsDeliveriesAndDeadLetters(t *testing.T) {
	platform := newPlatform(t)
	platform.Script(func(r fake.Request) fake.Reply {
		if r.InvoiceID == "INV-BAD" {
			return fake.Reply{Status: http.StatusUnprocessableEntity}
		}
		return fake.Reply{Status: http.StatusCreated}
	})
	var mu sync.Mutex
	heard := map[string]Outcome{}
	opts := emFast()
	opts.Observe = func(o Outcome) {
		mu.Lock()
		defer mu.Unlock()
		if _, twice := heard[o.Event.InvoiceID]; twice {
			t.Errorf("%s heard twice", o.Event.InvoiceID)
		}
		heard[o.Event.InvoiceID] = o
	}
	e := emStart(t, obOpen(t, OutboxOptions{}), []Sink{platformSink(t, platform)}, opts)
	enqueueOK(t, e, obSale(t, "INV-OK", time.Now()))
	enqueueOK(t, e, obSale(t, "INV-BAD", time.Now()))
	waitFor(t, "both outcomes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(heard) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if o := heard["INV-OK"]; !o.Delivered || o.Reason != "" {
		t.Errorf("INV-OK: %+v, want delivered", o)
	}
	if o := heard["INV-BAD"]; o.Delivered || o.Reason != "permanent: 422" || o.Code != "permanent" {
		t.Errorf("INV-BAD: %+v, want dead with reason permanent: 422", o)
	}
}
