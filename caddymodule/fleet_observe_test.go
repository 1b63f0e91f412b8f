package caddymodule

import (
	"testing"

	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/delivery"
	"github.com/saletrack/caddy-saletrack/sale"
)

// TestForwardedIsNotDelivered: in a fleet, the spool forwarding a sale into
// the stream is not its delivery, so the live log must not say delivered;
// a spooled sale that expires is a dead letter there as anywhere.
func TestForwardedIsNotDelivered(t *testing.T) {
	opts := forwarderOptions(&App{}, zap.NewNop())
	forwarded := &sale.Event{ID: "evt_forwarded", InvoiceID: "inv_forwarded", Route: "fleet"}
	expired := &sale.Event{ID: "evt_expired", InvoiceID: "inv_expired", Route: "fleet"}
	opts.Observe(delivery.Outcome{Event: forwarded, Delivered: true})
	opts.Observe(delivery.Outcome{Event: expired, Reason: "expired after 1h0m0s", Code: "expired"})

	outcomes := map[string]string{}
	for _, e := range recent.newest(maxRecent) {
		outcomes[e.InvoiceID] = e.Outcome
	}
	if got, ok := outcomes["inv_forwarded"]; ok {
		t.Errorf("a forwarded sale is in the live log as %q; want it left to the fleet's consumer", got)
	}
	if got := outcomes["inv_expired"]; got != outcomeDead {
		t.Errorf("an expired spooled sale is in the live log as %q, want %q", got, outcomeDead)
	}
}
