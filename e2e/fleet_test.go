package e2e

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Scenario 1: the same webhook sent to two nodes at once is delivered once;
// sent again after the stream's own duplicate window has passed (set short
// here) but within dedup_window, it is still not delivered again: the KV
// claim dedups, not only Nats-Msg-Id.
func TestFleetSameWebhookOnTwoNodes(t *testing.T) {
	cluster := startNATSCluster(t)
	plat := newPlatform(t)
	shop := startShop(t)
	nodes := startFleet(t, 2, shop, plat, cluster.URL(), "duplicate_window 1s")

	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !sendWebhook(n.port, "inv_twice") {
				t.Errorf("%s: no 2xx", n.name)
			}
		}()
	}
	wg.Wait()
	plat.WaitInvoices(t, "inv_twice")
	waitFleetDrained(t, nodes...)

	// Past the stream's window (1s) a republished Nats-Msg-Id is stored
	// again; the claim must still stop it. The window runs on the
	// server's clock, with nothing to poll: wait it out.
	time.Sleep(1500 * time.Millisecond)
	for _, n := range nodes {
		if !sendWebhook(n.port, "inv_twice") {
			t.Fatalf("%s: no 2xx for the repeat", n.name)
		}
	}
	if !sendWebhook(nodes[1].port, "inv_after") {
		t.Fatal("no 2xx")
	}
	plat.WaitInvoices(t, "inv_after")
	waitFleetDrained(t, nodes...)
	assertOnce(t, plat, []string{"inv_twice", "inv_after"})
}

// Scenario 2: 300 sales spread over three nodes while one of them is
// killed with SIGKILL and never restarted: every sale a node answered 2xx
// for arrives, once. The provider resends what got no 2xx to a live node,
// as payment providers do. The platform holds every answer around the
// kill, so the killed node has no send the platform accepted and it had
// not yet acknowledged: its sends in flight are redelivered by the others
// after ack_wait.
func TestFleetNodeKilledNeverRestarted(t *testing.T) {
	cluster := startNATSCluster(t)
	plat := newPlatform(t)
	shop := startShop(t)
	nodes := startFleet(t, 3, shop, plat, cluster.URL(), "publish_timeout 2s")
	victim := nodes[2]

	const total = 300
	var dead atomic.Bool
	var sent atomic.Int64
	var mu sync.Mutex
	var unanswered []string
	killed := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += 6 {
				inv := fmt.Sprintf("inv_k%d", i)
				n := nodes[i%3]
				if n == victim && dead.Load() {
					n = nodes[i%2] // the load balancer no longer sends there
				}
				if !sendWebhook(n.port, inv) {
					mu.Lock()
					unanswered = append(unanswered, inv)
					mu.Unlock()
				}
				if sent.Add(1) == total/2 {
					close(killed)
				}
			}
		}()
	}
	<-killed
	// Every node's four sends hang: the killed node's earlier sends are
	// all acknowledged (a send's slot is freed only after its ack).
	plat.Hang()
	waitUntil(t, "every node's sends to hang", func() bool {
		hung := 0
		for _, r := range plat.Requests() {
			if r.Status == 0 {
				hung++
			}
		}
		return hung >= 12
	})
	victim.proc.kill()
	dead.Store(true)
	plat.Accept()
	wg.Wait()
	for _, inv := range unanswered {
		if !sendWebhook(nodes[0].port, inv) {
			t.Fatalf("%s: resent to a live node, no 2xx", inv)
		}
	}
	var invoices []string
	for i := range total {
		invoices = append(invoices, fmt.Sprintf("inv_k%d", i))
	}
	plat.WaitInvoices(t, invoices...)
	waitFleetDrained(t, nodes[0], nodes[1])
	assertOnce(t, plat, invoices)
}

// Scenario 4: NATS down entirely. Captures keep answering (each webhook
// is committed to the node's spool), nothing is delivered while it is down,
// and every sale arrives once after it is back.
func TestFleetNATSDownEntirely(t *testing.T) {
	cluster := startNATSCluster(t)
	plat := newPlatform(t)
	shop := startShop(t)
	nodes := startFleet(t, 2, shop, plat, cluster.URL(), "")
	if !sendWebhook(nodes[0].port, "inv_before") {
		t.Fatal("no 2xx")
	}
	plat.WaitInvoices(t, "inv_before")

	for _, s := range cluster.Nodes {
		s.Shutdown()
	}
	for _, n := range nodes {
		waitUntil(t, n.name+" to see NATS gone", func() bool { return n.stats(t).Cluster.State == "disconnected" })
	}
	invoices := []string{"inv_before"}
	for i := range 40 {
		inv := fmt.Sprintf("inv_down%d", i)
		invoices = append(invoices, inv)
		if !sendWebhook(nodes[i%2].port, inv) {
			t.Fatalf("%s: no 2xx while NATS is down", inv)
		}
	}
	spooled := nodes[0].stats(t).Queued + nodes[1].stats(t).Queued
	if spooled != 40 {
		t.Fatalf("%d sales in the spools, want 40", spooled)
	}
	if _, accepted := plat.Counts(); accepted != 1 {
		t.Fatalf("platform accepted %d sales while NATS was down, want only the one before", accepted)
	}
	var wg sync.WaitGroup
	for _, s := range cluster.Nodes {
		wg.Add(1)
		go func() { defer wg.Done(); s.Restart(t) }()
	}
	wg.Wait()
	plat.WaitInvoices(t, invoices...)
	waitFleetDrained(t, nodes...)
	assertOnce(t, plat, invoices)
}
