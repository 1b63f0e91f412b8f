package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// Scenario 1: the same webhook sent to two nodes at once is delivered once;
// sent again after the stream's own duplicate window has passed (set short
// here) but within dedup_window, it is still not delivered again: the KV
// claim dedups, not only Nats-Msg-Id.
func TestFleetSameWebhookOnTwoNodes(t *testing.T) {
	_, plat, nodes := startFleetRig(t, 2, "duplicate_window 1s")

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
// as payment providers do; the load balancer keeps sending to the dead
// node, whose webhooks fail. The killed node's sends in flight are
// redelivered by the others after ack_wait.
func TestFleetNodeKilledNeverRestarted(t *testing.T) {
	_, plat, nodes := startFleetRig(t, 3, "publish_timeout 2s")
	invoices := invoiceList("inv_k", 300)
	sendWebhooks(t, nodes, invoices, func() {
		whileSendsHang(t, plat, len(nodes), nodes[2].proc.kill)
	}, func() *caddyNode { return nodes[0] })
	assertAllOnce(t, plat, invoices, nodes[0], nodes[1])
}

// Scenario 4: NATS down entirely. Captures keep answering (each webhook
// is committed to the node's spool), nothing is delivered while it is down,
// and every sale arrives once after it is back.
func TestFleetNATSDownEntirely(t *testing.T) {
	cluster, plat, nodes := startFleetRig(t, 2, "")
	if !sendWebhook(nodes[0].port, "inv_before") {
		t.Fatal("no 2xx")
	}
	plat.WaitInvoices(t, "inv_before")
	// The platform has the sale before the node's ack reaches the stream;
	// a cluster shut down in between keeps the event and sends it again.
	waitFleetDrained(t, nodes...)

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
	if c, q := nodes[0].metric(t, "nats_connected"), nodes[0].metric(t, "forward_queue"); c != 0 || q != float64(nodes[0].stats(t).Queued) {
		t.Errorf("metrics while NATS is down: nats_connected %v, forward_queue %v", c, q)
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
	assertAllOnce(t, plat, invoices, nodes...)
	if f := nodes[0].metric(t, "forwarded_total") + nodes[1].metric(t, "forwarded_total"); f != 40 {
		t.Errorf("forwarded_total %v over both nodes, want 40", f)
	}
	if c := nodes[0].metric(t, "nats_connected"); c != 1 {
		t.Errorf("nats_connected %v after NATS is back", c)
	}
}

// whileSendsHang runs kill while the platform holds every answer and all
// nodes' sends (concurrency 4 each) hang on it: no node then has a send
// the platform accepted and it has not acknowledged yet, since a send's
// slot is freed only after its ack. An ack lost at a kill would make the
// stream send that event again, under the same idempotency key, which a
// platform dedups but the exact counts of these tests would not.
func whileSendsHang(t *testing.T, plat *fake.Platform, nodes int, kill func()) {
	t.Helper()
	plat.Hang()
	// Hanging counts the sends held now: an unanswered request whose
	// send timed out (send_timeout 3s) frees its slot, and no longer
	// counts.
	waitUntil(t, "every node's sends to hang", func() bool { return plat.Hanging() >= 4*nodes })
	kill()
	plat.Accept()
}

// sendWebhooks sends the webhooks of invoices round-robin over nodes from
// a few goroutines, as a load balancer would, calling during once half of
// them are answered; webhooks that got no 2xx are resent to alive(), as a
// provider does. It returns once every webhook got a 2xx.
func sendWebhooks(t *testing.T, nodes []*caddyNode, invoices []string, during func(), alive func() *caddyNode) {
	t.Helper()
	var sent atomic.Int64
	var mu sync.Mutex
	var unanswered []string
	half := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(invoices); i += 6 {
				if !sendWebhook(nodes[i%len(nodes)].port, invoices[i]) {
					mu.Lock()
					unanswered = append(unanswered, invoices[i])
					mu.Unlock()
				}
				if sent.Add(1) == int64(len(invoices)/2) {
					close(half)
				}
			}
		}()
	}
	<-half
	during()
	wg.Wait()
	for _, inv := range unanswered {
		if !sendWebhook(alive().port, inv) {
			t.Fatalf("%s: resent, no 2xx", inv)
		}
	}
}

func invoiceList(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// Scenario 3: one NATS server of three killed mid-traffic: nothing lost,
// nothing doubled. Clients on it move to the others; a publish whose ack
// was lost is spooled and republished under the same Nats-Msg-Id.
func TestFleetNATSServerKilled(t *testing.T) {
	cluster, plat, nodes := startFleetRig(t, 2, "")
	invoices := invoiceList("inv_n", 200)
	sendWebhooks(t, nodes, invoices, func() {
		whileSendsHang(t, plat, len(nodes), cluster.Nodes[0].Shutdown)
	}, func() *caddyNode { return nodes[0] })
	assertAllOnce(t, plat, invoices, nodes...)
}

// Scenario 6: one node reloaded under traffic: its fleet membership, spool
// and consumer carry over, and every sale arrives once.
func TestFleetReloadUnderTraffic(t *testing.T) {
	_, plat, nodes := startFleetRig(t, 2, "")
	invoices := invoiceList("inv_r", 150)
	sendWebhooks(t, nodes, invoices, func() {
		nodes[0].proc.reload(strings.Replace(nodes[0].cfg, "concurrency 4", "concurrency 3", 1))
	}, func() *caddyNode { return nodes[1] })
	assertAllOnce(t, plat, invoices, nodes...)
	if st := nodes[0].stats(t); st.Cluster.State != "ready" {
		t.Errorf("after the reload the node is %s", st.Cluster.State)
	}
}

// Scenario 5: the platform down then up. Retries and dead letters behave
// as on one node; a dead letter captured on one node is listed and
// replayed from another, and a flush from any node cuts a long
// Retry-After short fleet-wide.
func TestFleetPlatformDownThenUp(t *testing.T) {
	_, plat, nodes := startFleetRig(t, 2, "")
	a, b := nodes[0], nodes[1]

	plat.Fail(503, "down")
	if !sendWebhook(a.port, "inv_retry") {
		t.Fatal("no 2xx")
	}
	waitUntil(t, "three attempts", func() bool { return len(plat.Keys("inv_retry")) >= 3 })
	plat.Accept()
	plat.WaitInvoices(t, "inv_retry")

	plat.Fail(422, "bad sale")
	if !sendWebhook(a.port, "inv_dead") {
		t.Fatal("no 2xx")
	}
	waitUntil(t, "the dead letter", func() bool { return b.stats(t).Cluster.Dead == 1 })
	var dead struct {
		Total       int `json:"total"`
		DeadLetters []struct {
			Reason string `json:"reason"`
			Event  struct {
				InvoiceID string `json:"invoiceId"`
			} `json:"event"`
		} `json:"dead_letters"`
	}
	if status := b.proc.adminJSON(http.MethodGet, "/sale_track/dead", &dead); status != 200 || dead.Total != 1 ||
		dead.DeadLetters[0].Event.InvoiceID != "inv_dead" || dead.DeadLetters[0].Reason != "permanent: 422" {
		t.Fatalf("dead letters from the other node: %d %+v", status, dead)
	}
	// The status page lists the fleet's dead letters too, not the node's.
	resp, err := http.Get(b.proc.adminURL("/sale_track/"))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `id="dead-total">1<`) || !strings.Contains(string(page), "<td>inv_dead</td><td class=\"dead\">permanent: 422</td>") {
		t.Errorf("the other node's status page does not list the fleet's dead letter:\n%s", page)
	}
	plat.Accept()
	var replayed struct{ Replayed int }
	if status := b.proc.adminJSON(http.MethodPost, "/sale_track/dead/replay", &replayed); status != 200 || replayed.Replayed != 1 {
		t.Fatalf("replay: %d %+v", status, replayed)
	}
	plat.WaitInvoices(t, "inv_dead")
	// The flush below resets the consumer to its ack floor, which sends
	// again an event delivered but not yet acknowledged: wait until the
	// replayed sale's ack is in.
	waitFleetDrained(t, nodes...)

	plat.RetryAfter(503, "3600")
	if !sendWebhook(a.port, "inv_flush") {
		t.Fatal("no 2xx")
	}
	waitUntil(t, "the first refusal", func() bool { return len(plat.Keys("inv_flush")) >= 1 })
	plat.Accept()
	if status := b.proc.adminJSON(http.MethodPost, "/sale_track/flush", nil); status != 202 {
		t.Fatalf("flush: %d", status)
	}
	assertAllOnce(t, plat, []string{"inv_retry", "inv_dead", "inv_flush"}, nodes...)
	if st := b.stats(t); st.Cluster.Dead != 0 {
		t.Errorf("%d dead letters left after the replay", st.Cluster.Dead)
	}
}
