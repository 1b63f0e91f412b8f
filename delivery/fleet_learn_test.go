package delivery

import (
	"testing"

	"github.com/saletrack/caddy-saletrack/internal/natstest"
	"github.com/saletrack/caddy-saletrack/sale"
)

// fillFromFleet fills ev from n's binding, failing the test on an error.
func fillFromFleet(t *testing.T, n *fleetNode, ev *sale.Event) Filled {
	t.Helper()
	filled, err := n.fleet.Binding().Fill(ev)
	if err != nil {
		t.Fatal(err)
	}
	return filled
}

// TestFleetCommitTeachesTheBinding: an event the stream takes on one node
// teaches the fleet's binding, which another node fills from: customer →
// click under first and last attribution, email → customer.
func TestFleetCommitTeachesTheBinding(t *testing.T) {
	for _, tc := range []struct {
		keepFirst bool
		want      string
	}{{false, "clk_second"}, {true, "clk_first"}} {
		srv := natstest.Start(t)
		a, b := startFleetPair(t, fleetOpts(srv.URL()))
		for _, n := range []*fleetNode{a, b} {
			n.ob.SetBindingOptions(BindingOptions{KeepFirst: tc.keepFirst})
		}
		commitOK(t, a, bindLead("user_7", "clk_first", "alex@example.com"), Queued)
		commitOK(t, b, bindLead("user_7", "clk_second", "alex@example.com"), Queued)
		if a.fleet.Stats().Spooled+b.fleet.Stats().Spooled != 0 {
			t.Fatalf("keepFirst %v: leads were spooled, not published: the test would not prove the stream's path", tc.keepFirst)
		}
		for _, n := range []*fleetNode{a, b} {
			ev := webhookSale(t, "cs_1", "Alex@Example.com")
			filled := fillFromFleet(t, n, ev)
			if filled != (Filled{Customer: ByEmail, Click: ByCustomer}) || ev.CustomerExternalID != "user_7" || ev.ClickID != tc.want {
				t.Errorf("keepFirst %v: filled %+v, customer %q click %q; want user_7 and %s", tc.keepFirst, filled, ev.CustomerExternalID, ev.ClickID, tc.want)
			}
		}
		// The nodes' own files learned nothing: the binding is the fleet's.
		if ev := webhookSale(t, "cs_2", "alex@example.com"); mustFill(t, b.ob, ev).Any() {
			t.Errorf("keepFirst %v: node b's own outbox filled %+v", tc.keepFirst, ev)
		}
	}
}

// TestFleetDuplicateTeachesTheBinding: a repeat of an invoice the fleet
// already has is not published again, but its newer click is learned.
func TestFleetDuplicateTeachesTheBinding(t *testing.T) {
	srv := natstest.Start(t)
	n := startFleetNode(t, fleetOpts(srv.URL()))
	n.waitReady(t)
	first := fleetSale(t, "inv_1")
	first.CustomerExternalID, first.ClickID = "user_7", "clk_old"
	commitOK(t, n, first, Queued)
	again := fleetSale(t, "inv_1")
	again.CustomerExternalID, again.ClickID = "user_7", "clk_new"
	commitOK(t, n, again, Duplicate)
	ev := webhookSale(t, "cs_1", "")
	ev.CustomerExternalID = "user_7"
	if fillFromFleet(t, n, ev); ev.ClickID != "clk_new" {
		t.Fatalf("click %q, want the duplicate's clk_new", ev.ClickID)
	}
}
