package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
	"github.com/saletrack/caddy-saletrack/internal/natstest"
)

// caddyNode is one Caddy of a test fleet: its ports, its own storage and
// the process running it now.
type caddyNode struct {
	name        string
	admin, port int
	dir         string
	cfg         string
	proc        *caddyProc
}

// startFleet runs n Caddy nodes in front of shop, delivering to plat,
// all joined to the NATS cluster at natsURL; natsExtra goes into their
// nats blocks, extra into their sale_track blocks.
func startFleet(t *testing.T, n int, shop string, plat *fake.Platform, natsURL, natsExtra string, extra ...string) []*caddyNode {
	t.Helper()
	nats := fmt.Sprintf("nats %s {\n\t\t\t%s\n\t\t}", natsURL, natsExtra)
	nodes := make([]*caddyNode, n)
	var wg sync.WaitGroup
	for i := range nodes {
		dir := filepath.Join(t.TempDir(), fmt.Sprint("node", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		node := &caddyNode{name: fmt.Sprint("node", i), admin: fake.FreePort(), port: fake.FreePort(), dir: dir}
		node.cfg = webhookConfig(node.admin, node.port, shop, endpoint(plat), filepath.Join(dir, "st"),
			append([]string{"concurrency 4", "send_timeout 3s", nats}, extra...)...)
		nodes[i] = node
		wg.Add(1)
		go func() {
			defer wg.Done()
			node.proc = startCaddy(t, dir, node.admin, node.cfg)
		}()
	}
	wg.Wait()
	for _, node := range nodes {
		node.waitCluster(t, "ready")
	}
	return nodes
}

// fleetStats is the part of /sale_track/stats the fleet tests read.
type fleetStats struct {
	Queued  int64 `json:"queued"`
	Cluster *struct {
		State    string `json:"state"`
		Queued   int64  `json:"queued"`
		InFlight int    `json:"in_flight"`
		Dead     int64  `json:"dead"`
		Error    string `json:"error"`
		Spooled  int64  `json:"spooled"`
	} `json:"cluster"`
}

func (n *caddyNode) stats(t *testing.T) fleetStats {
	t.Helper()
	var out []fleetStats
	if status := n.proc.adminJSON(http.MethodGet, "/sale_track/stats", &out); status != 200 || len(out) != 1 || out[0].Cluster == nil {
		t.Fatalf("%s stats: %d %+v", n.name, status, out)
	}
	return out[0]
}

// metric reads one unlabelled caddy_sale_track_ sample of the node's
// /metrics; -1 when it is absent.
func (n *caddyNode) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(n.proc.adminURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^caddy_sale_track_` + name + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// waitCluster waits until the node's cluster state is state.
func (n *caddyNode) waitCluster(t *testing.T, state string) {
	t.Helper()
	waitUntil(t, n.name+" cluster "+state, func() bool { return n.stats(t).Cluster.State == state })
}

// waitFleetDrained waits until nothing is left to send: the stream is
// empty, nothing is in flight, and no live node's spool holds a sale.
// From then on nothing more reaches the platform, so its counts are final.
func waitFleetDrained(t *testing.T, nodes ...*caddyNode) {
	t.Helper()
	waitUntil(t, "the fleet to drain", func() bool {
		for _, n := range nodes {
			st := n.stats(t)
			if st.Queued != 0 || st.Cluster.State != "ready" || st.Cluster.Error != "" || st.Cluster.Queued != 0 || st.Cluster.InFlight != 0 {
				return false
			}
		}
		return true
	})
}

// waitUntil polls cond until it holds, failing after a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// assertOnce checks that plat accepted exactly invoices, each once and
// under one idempotency key.
func assertOnce(t *testing.T, plat *fake.Platform, invoices []string) {
	t.Helper()
	got := plat.Invoices()
	for _, inv := range invoices {
		if got[inv] != 1 {
			t.Errorf("%s delivered %d times, want once", inv, got[inv])
		}
		keys := map[string]bool{}
		for _, r := range plat.Requests() {
			if r.InvoiceID == inv && r.Accepted() {
				keys[r.IdempotencyKey()] = true
			}
		}
		if len(keys) > 1 {
			t.Errorf("%s arrived under %d idempotency keys", inv, len(keys))
		}
	}
	if len(got) != len(invoices) {
		t.Errorf("platform accepted %d distinct invoices, want %d", len(got), len(invoices))
	}
}

// startFleetRig runs a three-server JetStream cluster, the recording
// platform, the shop and n Caddy nodes in front of it, joined to the
// cluster with natsExtra in their nats blocks.
func startFleetRig(t *testing.T, n int, natsExtra string) (*natstest.Cluster, *fake.Platform, []*caddyNode) {
	t.Helper()
	cluster := natstest.StartCluster(t)
	plat := newPlatform(t)
	return cluster, plat, startFleet(t, n, startShop(t), plat, cluster.URL(), natsExtra)
}

// assertAllOnce waits until invoices have arrived and the fleet of the
// live nodes has drained, then checks each arrived once, under one key.
func assertAllOnce(t *testing.T, plat *fake.Platform, invoices []string, live ...*caddyNode) {
	t.Helper()
	plat.WaitInvoices(t, invoices...)
	waitFleetDrained(t, live...)
	assertOnce(t, plat, invoices)
}
