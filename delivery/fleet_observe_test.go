package delivery

import (
	"context"
	"sync"
	"testing"

	"github.com/saletrack/caddy-saletrack/internal/natstest"
	"github.com/saletrack/caddy-saletrack/sale"
)

// TestFleetObserverHearsDeliveriesAndDeadLetters: in a fleet the shared
// consumer delivers, so it is the one that tells the observer (the live
// capture log) what became of each event.
func TestFleetObserverHearsDeliveriesAndDeadLetters(t *testing.T) {
	srv := natstest.Start(t)
	var mu sync.Mutex
	heard := map[string]Outcome{}
	eopts := emFast()
	eopts.Observe = func(o Outcome) {
		mu.Lock()
		defer mu.Unlock()
		heard[o.Event.InvoiceID] = o
	}
	sink := &funcSink{name: "platform", send: func(ctx context.Context, ev *sale.Event) error {
		if ev.InvoiceID == "inv_refused" {
			return &SendError{Status: 422, Permanent: true}
		}
		return nil
	}}
	n := startFleetNodeWith(t, fleetOpts(srv.URL()), eopts, sink)
	n.waitReady(t)
	commitOK(t, n, fleetSale(t, "inv_accepted"), Queued)
	commitOK(t, n, fleetSale(t, "inv_refused"), Queued)
	waitFor(t, "both outcomes observed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(heard) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if o := heard["inv_accepted"]; !o.Delivered || o.Reason != "" {
		t.Errorf("accepted sale observed as %+v, want delivered", o)
	}
	if o := heard["inv_refused"]; o.Delivered || o.Reason != "permanent: 422" || o.Code != "permanent" {
		t.Errorf("refused sale observed as %+v, want a dead letter with reason permanent: 422", o)
	}
}
