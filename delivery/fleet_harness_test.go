package delivery

import (
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
	"github.com/saletrack/caddy-saletrack/sale"
)

// fleetNode is one node of a test fleet: its own spool (an outbox and the
// worker that forwards it) and its membership of the fleet.
type fleetNode struct {
	ob      *Outbox
	forward *Emitter
	fleet   *Fleet
}

// fleetOpts are options for a test fleet on url: short windows, so a test
// can outlive them.
func fleetOpts(url string) FleetOptions {
	return FleetOptions{URLs: url, PublishTimeout: 2 * time.Second, AckWait: 2 * time.Second, SetupWait: 10 * time.Second}
}

// startFleetNode starts a node that delivers to sinks.
func startFleetNode(t *testing.T, opts FleetOptions, sinks ...Sink) *fleetNode {
	t.Helper()
	return startFleetNodeWith(t, opts, emFast(), sinks...)
}

// startFleetNodeWith starts a node whose delivery from the stream runs
// with eopts.
func startFleetNodeWith(t *testing.T, opts FleetOptions, eopts EmitterOptions, sinks ...Sink) *fleetNode {
	t.Helper()
	n := &fleetNode{ob: obOpen(t, OutboxOptions{})}
	n.forward = NewEmitter(n.ob, nil, emFast())
	n.fleet = NewFleet(opts, sinks, eopts, n.forward.Enqueue, n.forward.Flush)
	n.forward.Reconfigure([]Sink{n.fleet.Forwarder()}, emFast())
	n.fleet.ShareBinding(n.ob)
	if err := n.fleet.Start(); err != nil {
		t.Fatalf("fleet Start: %v", err)
	}
	n.forward.Start()
	t.Cleanup(func() {
		n.forward.Stop()
		n.fleet.Stop()
	})
	return n
}

func (n *fleetNode) waitReady(t *testing.T) {
	t.Helper()
	waitFor(t, "the fleet to be ready", func() bool { return n.fleet.State() == "ready" })
}

// fleetSale is a sale as capture makes it: its id derived from the invoice.
func fleetSale(t *testing.T, invoice string) *sale.Event {
	ev := obSale(t, invoice, time.Now())
	ev.ID = sale.EventID(invoice)
	return ev
}

func commitOK(t *testing.T, n *fleetNode, ev *sale.Event, want EnqueueResult) {
	t.Helper()
	res, err := n.fleet.Commit(ev)
	if err != nil || res != want {
		t.Fatalf("Commit %s: %v, %v; want %v", ev.InvoiceID, res, err, want)
	}
}

// waitOnce waits until p accepted exactly invoices (a multiset), each under
// one idempotency key, and checks nothing else arrived.
func waitOnce(t *testing.T, p *fake.Platform, invoices ...string) {
	t.Helper()
	p.WaitInvoices(t, invoices...)
	got := p.Invoices()
	for _, inv := range invoices {
		if got[inv] != 1 {
			t.Errorf("invoice %s delivered %d times, want once", inv, got[inv])
		}
		keys := map[string]bool{}
		for _, k := range p.Keys(inv) {
			keys[k] = true
		}
		if len(keys) != 1 {
			t.Errorf("invoice %s arrived under %d idempotency keys, want 1", inv, len(keys))
		}
	}
	if len(got) != len(invoices) {
		t.Errorf("platform got %d invoices, want %d: %v", len(got), len(invoices), got)
	}
}

// waitDrained waits until nothing is left to send anywhere: the stream is
// empty, no node holds an event in flight, and every spool is empty. From
// then on nothing more can reach a sink, so counting what arrived is final.
func waitDrained(t *testing.T, nodes ...*fleetNode) {
	t.Helper()
	waitFor(t, "the fleet to drain", func() bool {
		for _, n := range nodes {
			if n.fleet.stopping.Load() {
				continue
			}
			st := n.fleet.Stats()
			if st.Error != "" || st.State != "ready" || st.Queued != 0 || st.InFlight != 0 || n.forward.Stats().Queued != 0 {
				return false
			}
		}
		return true
	})
}
