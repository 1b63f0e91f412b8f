package delivery

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/saletrack/caddy-saletrack/internal/natstest"
	"github.com/saletrack/caddy-saletrack/sale"
)

// TestFleetBindingKeySharedByNodes: every node hashes with the one key the
// first node wrote to the bucket, so the same email finds the same entry
// on any node.
func TestFleetBindingKeySharedByNodes(t *testing.T) {
	srv := natstest.Start(t)
	a, b := startFleetPair(t, fleetOpts(srv.URL()))
	ka, kb := a.fleet.Binding().bucket.Load().key, b.fleet.Binding().bucket.Load().key
	if len(ka) != bindingKeySize || !bytes.Equal(ka, kb) {
		t.Fatalf("node keys differ or are short: %x vs %x", ka, kb)
	}
	if bytes.Equal(ka, a.ob.key) {
		t.Fatal("the fleet hashes with the node's own binding.key, which no other node has")
	}
	e, err := natsKV(t, srv.URL(), DefaultFleetBindingBucket).Get(context.Background(), bindingKeyEntry)
	if err != nil || !bytes.Equal(e.Value(), ka) {
		t.Fatalf("the bucket's key entry: %v, want the nodes' key", err)
	}
}

// TestFleetBindingFirstClickUnderContention: nodes learning different
// clicks for one customer at once under first-click attribution write the
// entry once between them (a Create wins, the others read it and keep
// it), and every node fills the same click.
func TestFleetBindingFirstClickUnderContention(t *testing.T) {
	srv := natstest.Start(t)
	a, b := startFleetPair(t, fleetOpts(srv.URL()))
	nodes := []*fleetNode{a, b}
	for _, n := range nodes {
		n.ob.SetBindingOptions(BindingOptions{KeepFirst: true})
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lead := bindLead("user_7", fmt.Sprintf("clk_%d", i), "")
			if err := nodes[i%2].fleet.Binding().Learn(lead); err != nil {
				t.Errorf("Learn: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := a.ob.bindingsLearned.Load() + b.ob.bindingsLearned.Load(); n != 1 {
		t.Errorf("the customer's entry was written %d times, want once", n)
	}
	var clicks []string
	for _, n := range nodes {
		ev := webhookSale(t, "cs_1", "")
		ev.CustomerExternalID = "user_7"
		fillFromFleet(t, n, ev)
		clicks = append(clicks, ev.ClickID)
	}
	if clicks[0] == "" || clicks[0] != clicks[1] {
		t.Fatalf("nodes filled clicks %q, want one and the same", clicks)
	}
}

// TestFleetBindingRefsAcrossNodes: a checkout reference recorded on one
// node (the browser's click, then the shop's customer from another call)
// fills a webhook sale on another.
func TestFleetBindingRefsAcrossNodes(t *testing.T) {
	srv := natstest.Start(t)
	a, b := startFleetPair(t, fleetOpts(srv.URL()))
	if err := a.fleet.Binding().BindRefs([]string{"cs_test_1"}, "clk_browser", ""); err != nil {
		t.Fatal(err)
	}
	if err := b.fleet.Binding().BindRefs([]string{"cs_test_1"}, "", "user_9"); err != nil {
		t.Fatal(err)
	}
	ev := webhookSale(t, "inv_ref", "")
	ev.Refs = []string{"cs_test_1"}
	filled := fillFromFleet(t, b, ev)
	if filled != (Filled{Customer: ByReference, Click: ByReference}) || ev.ClickID != "clk_browser" || ev.CustomerExternalID != "user_9" {
		t.Fatalf("filled %+v: click %q customer %q, want clk_browser and user_9", filled, ev.ClickID, ev.CustomerExternalID)
	}
}

// TestFleetBindingExpires: the bucket's TTL is binding_ttl; the server
// removes an entry past it, and the hashing key stays.
func TestFleetBindingExpires(t *testing.T) {
	srv := natstest.Start(t)
	opts := fleetOpts(srv.URL())
	opts.BindingTTL = 2 * time.Second
	a := startFleetNode(t, opts)
	a.waitReady(t)
	a.ob.SetBindingOptions(BindingOptions{TTL: time.Hour}) // the bucket's TTL alone must expire it
	commitOK(t, a, bindLead("user_7", "clk_1", "alex@example.com"), Queued)
	if ev := webhookSale(t, "cs_1", "alex@example.com"); !fillFromFleet(t, a, ev).Any() {
		t.Fatal("nothing filled before the TTL")
	}
	kv := natsKV(t, srv.URL(), DefaultFleetBindingBucket)
	waitFor(t, "the entries to expire", func() bool { return len(bindingEntryKeys(t, kv)) == 0 })
	if ev := webhookSale(t, "cs_2", "alex@example.com"); fillFromFleet(t, a, ev).Any() {
		t.Fatalf("filled %+v after the TTL", ev)
	}
	if _, err := kv.Get(context.Background(), bindingKeyEntry); err != nil {
		t.Fatalf("the hashing key expired with the entries: %v", err)
	}
	// Learned again after expiry: the key is the same, the entry new.
	commitOK(t, a, bindLead("user_7", "clk_2", "alex@example.com"), Queued)
	ev := webhookSale(t, "cs_3", "alex@example.com")
	if fillFromFleet(t, a, ev); ev.ClickID != "clk_2" {
		t.Fatalf("click %q after learning again, want clk_2", ev.ClickID)
	}
}

// TestFleetBindingHoldsNoEmail: no key or value in the bucket holds the
// email, in any case.
func TestFleetBindingHoldsNoEmail(t *testing.T) {
	srv := natstest.Start(t)
	a := startFleetNode(t, fleetOpts(srv.URL()))
	a.waitReady(t)
	commitOK(t, a, bindLead("user_7", "clk_1", "Alex.Secret@Example.com"), Queued)
	if err := a.fleet.Binding().BindRefs([]string{"cs_1"}, "clk_1", "user_7"); err != nil {
		t.Fatal(err)
	}
	kv := natsKV(t, srv.URL(), DefaultFleetBindingBucket)
	keys := bindingEntryKeys(t, kv)
	if len(keys) != 3 {
		t.Fatalf("bucket holds %d entries, want 3 (customer, email, reference): %v", len(keys), keys)
	}
	for _, k := range append(keys, bindingKeyEntry) {
		e, err := kv.Get(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{k, string(e.Value())} {
			if low := strings.ToLower(text); strings.Contains(low, "alex.secret") || strings.Contains(low, "example.com") {
				t.Errorf("entry %q holds the email: %q", k, text)
			}
		}
	}
}

// TestFleetBindingWhileNATSIsDown: fills fall back to the node's own
// outbox, which learns from what is spooled; once NATS is back, the
// forwarder teaches the fleet's binding, so another node fills from it.
func TestFleetBindingWhileNATSIsDown(t *testing.T) {
	srv := natstest.Start(t)
	taken := &funcSink{name: "taken", send: func(context.Context, *sale.Event) error { return nil }}
	a, b := startFleetPair(t, fleetOpts(srv.URL()), taken)
	srv.Shutdown()
	waitFor(t, "the disconnect", func() bool { return !a.fleet.Connected() })
	lead := bindLead("user_7", "clk_down", "alex@example.com")
	lead.CapturedAt = time.Now() // within max_event_age, so the forwarder takes it
	commitOK(t, a, lead, Queued)
	down := webhookSale(t, "cs_1", "alex@example.com")
	if fillFromFleet(t, a, down); down.ClickID != "clk_down" {
		t.Fatalf("click %q while NATS is down, want clk_down from the node's own outbox", down.ClickID)
	}
	srv.Restart(t)
	waitDrained(t, a, b)
	ev := webhookSale(t, "cs_2", "alex@example.com")
	if fillFromFleet(t, b, ev); ev.ClickID != "clk_down" || ev.CustomerExternalID != "user_7" {
		t.Fatalf("node b after recovery: click %q customer %q, want clk_down and user_7", ev.ClickID, ev.CustomerExternalID)
	}
}

// startFleetPair starts two nodes of one fleet and waits until both are
// ready.
func startFleetPair(t *testing.T, opts FleetOptions, sinks ...Sink) (*fleetNode, *fleetNode) {
	t.Helper()
	a, b := startFleetNode(t, opts, sinks...), startFleetNode(t, opts, sinks...)
	a.waitReady(t)
	b.waitReady(t)
	return a, b
}

// bindingEntryKeys lists the bucket's binding entries, less its key.
func bindingEntryKeys(t *testing.T, kv jetstream.KeyValue) []string {
	t.Helper()
	keys, err := kv.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range keys.Keys() {
		if k != bindingKeyEntry {
			out = append(out, k)
		}
	}
	return out
}
