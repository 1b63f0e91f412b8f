package delivery

import (
	"testing"

	"github.com/saletrack/caddy-saletrack/internal/natstest"
)

// TestFleetCommitTeachesTheBinding: an event the stream takes teaches the
// binding as an enqueued one does: customer → click under first and last
// attribution, email → customer, and a duplicate's newer click.
func TestFleetCommitTeachesTheBinding(t *testing.T) {
	for _, tc := range []struct {
		keepFirst bool
		want      string
	}{{false, "clk_second"}, {true, "clk_first"}} {
		n := startFleetNode(t, fleetOpts(natstest.Start(t).URL()))
		n.waitReady(t)
		n.ob.SetBindingOptions(BindingOptions{KeepFirst: tc.keepFirst})
		commitOK(t, n, bindLead("user_7", "clk_first", "alex@example.com"), Queued)
		commitOK(t, n, bindLead("user_7", "clk_second", "alex@example.com"), Queued)
		if n.fleet.Stats().Spooled != 0 {
			t.Fatalf("keepFirst %v: leads were spooled, not published: the test would not prove the stream's path", tc.keepFirst)
		}
		ev := webhookSale(t, "cs_1", "Alex@Example.com")
		filled := mustFill(t, n.ob, ev)
		if filled != (Filled{Customer: ByEmail, Click: ByCustomer}) || ev.CustomerExternalID != "user_7" || ev.ClickID != tc.want {
			t.Errorf("keepFirst %v: filled %+v, customer %q click %q; want user_7 and %s", tc.keepFirst, filled, ev.CustomerExternalID, ev.ClickID, tc.want)
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
	if mustFill(t, n.ob, ev); ev.ClickID != "clk_new" {
		t.Fatalf("click %q, want the duplicate's clk_new", ev.ClickID)
	}
}
