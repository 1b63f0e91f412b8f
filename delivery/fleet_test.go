package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/saletrack/caddy-saletrack/internal/natstest"
	"github.com/saletrack/caddy-saletrack/sale"
)

// TestFleetOneDeliveryPerInvoice: the same invoice committed on two nodes
// at once, and again on the second after the stream's own duplicate
// window has passed, is delivered once: the KV claim, not only
// Nats-Msg-Id, stops it.
func TestFleetOneDeliveryPerInvoice(t *testing.T) {
	srv := natstest.Start(t)
	p := newPlatform(t)
	opts := fleetOpts(srv.URL())
	opts.DuplicateWindow = 200 * time.Millisecond
	a := startFleetNode(t, opts, platformSink(t, p))
	b := startFleetNode(t, opts, platformSink(t, p))
	a.waitReady(t)
	b.waitReady(t)

	var wg sync.WaitGroup
	results := make([]EnqueueResult, 2)
	for i, n := range []*fleetNode{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := n.fleet.Commit(fleetSale(t, "inv_same"))
			if err != nil {
				t.Errorf("Commit: %v", err)
			}
			results[i] = res
		}()
	}
	wg.Wait()
	waitOnce(t, p, "inv_same")

	// Past the stream's duplicate window, Nats-Msg-Id no longer dedups:
	// the claim does.
	time.Sleep(2 * opts.DuplicateWindow) // the window is the server's clock: nothing to poll
	commitOK(t, b, fleetSale(t, "inv_same"), Duplicate)
	commitOK(t, a, fleetSale(t, "inv_other"), Queued)
	waitDrained(t, a, b)
	waitOnce(t, p, "inv_same", "inv_other")
}

// TestFleetSpreadsDelivery: sales committed on both nodes are delivered
// once each, and both nodes deliver (one shared work queue).
func TestFleetSpreadsDelivery(t *testing.T) {
	srv := natstest.Start(t)
	p := newPlatform(t)
	slow := func(s Sink) Sink {
		return &funcSink{name: s.Name(), send: func(ctx context.Context, ev *sale.Event) error {
			time.Sleep(5 * time.Millisecond) // keeps one node from taking everything
			return s.Send(ctx, ev)
		}}
	}
	a := startFleetNode(t, fleetOpts(srv.URL()), slow(platformSink(t, p)))
	b := startFleetNode(t, fleetOpts(srv.URL()), slow(platformSink(t, p)))
	a.waitReady(t)
	b.waitReady(t)
	var invoices []string
	for i := range 100 {
		inv := fmt.Sprintf("inv_%d", i)
		invoices = append(invoices, inv)
		commitOK(t, []*fleetNode{a, b}[i%2], fleetSale(t, inv), Queued)
	}
	waitDrained(t, a, b)
	waitOnce(t, p, invoices...)
	if a.fleet.Stats().Delivered == 0 || b.fleet.Stats().Delivered == 0 {
		t.Errorf("one node delivered everything: a %d, b %d", a.fleet.Stats().Delivered, b.fleet.Stats().Delivered)
	}
}

// TestFleetSpoolsWhileNATSIsDown: with the server gone, commits go to the
// local spool at once and nothing is delivered; once it is back, the
// forwarder publishes them and they arrive once.
func TestFleetSpoolsWhileNATSIsDown(t *testing.T) {
	srv := natstest.Start(t)
	p := newPlatform(t)
	a := startFleetNode(t, fleetOpts(srv.URL()), platformSink(t, p))
	a.waitReady(t)
	commitOK(t, a, fleetSale(t, "before"), Queued)
	waitOnce(t, p, "before")
	// The platform has the sale before the node's ack reaches the server;
	// a server shut down in between keeps the event and sends it again.
	waitDrained(t, a)

	srv.Shutdown()
	waitFor(t, "the disconnect", func() bool { return !a.fleet.Connected() })
	var invoices []string
	for i := range 20 {
		inv := fmt.Sprintf("down_%d", i)
		invoices = append(invoices, inv)
		commitOK(t, a, fleetSale(t, inv), Queued)
	}
	if got := a.forward.Stats().Queued; got != 20 {
		t.Fatalf("spool holds %d, want 20", got)
	}
	if n := len(p.Accepted()); n != 1 {
		t.Fatalf("platform got %d sales while NATS was down, want only the one before", n)
	}
	srv.Restart(t)
	waitDrained(t, a)
	waitOnce(t, p, append(invoices, "before")...)
	if st := a.fleet.Stats(); st.Forwarded != 20 || st.Spooled != 20 {
		t.Errorf("forwarded %d, spooled %d; want 20 and 20", st.Forwarded, st.Spooled)
	}
}

// TestFleetStalePendingClaimTakenOver: a node that claimed an invoice and
// died before publishing holds it only for PendingTTL; a capture of it
// elsewhere is spooled meanwhile and delivered once the claim is stale.
func TestFleetStalePendingClaimTakenOver(t *testing.T) {
	srv := natstest.Start(t)
	p := newPlatform(t)
	opts := fleetOpts(srv.URL())
	opts.PendingTTL = time.Second
	a := startFleetNode(t, opts, platformSink(t, p))
	a.waitReady(t)

	dead := &Fleet{opts: opts.withDefaults()}
	dead.opts.Node = "dead-node"
	kv := natsKV(t, srv.URL(), a.fleet.opts.KVBucket)
	// The claim is fresh for PendingTTL from its creation. On a machine
	// slow enough that the commit comes later, it is stale already and
	// rightly taken over at once, which proves nothing about the wait:
	// then the test tries again with another invoice.
	var invoices []string
	for {
		inv := fmt.Sprintf("inv_orphan_%d", len(invoices))
		invoices = append(invoices, inv)
		claimedAt := time.Now()
		if res, err := dead.claim(context.Background(), kv, inv); err != nil || res != claimed {
			t.Fatalf("claim by the node about to die: %v %v", res, err)
		}
		commitOK(t, a, fleetSale(t, inv), Queued)
		spooled := a.forward.Stats().Queued
		if time.Since(claimedAt) < opts.PendingTTL {
			if spooled != 1 {
				t.Fatalf("a fresh claim of another node: the sale should wait in the spool, which holds %d", spooled)
			}
			break
		}
		if len(invoices) == 5 {
			t.Fatalf("no commit came within PendingTTL (%s) of its claim in %d tries", opts.PendingTTL, len(invoices))
		}
		waitDrained(t, a)
	}
	waitDrained(t, a)
	waitOnce(t, p, invoices...)
}

// TestFleetRetriesThenDeadLettersAndReplaysElsewhere: retryable failures
// are retried through nak-with-delay; a permanent one becomes a dead letter
// in the fleet's dead-letter stream, which another node lists and replays.
func TestFleetRetriesThenDeadLettersAndReplaysElsewhere(t *testing.T) {
	srv := natstest.Start(t)
	var calls atomic.Int64
	var refuse atomic.Bool
	refuse.Store(true)
	var mu sync.Mutex
	got := map[string]int{}
	sink := &funcSink{name: "platform", send: func(ctx context.Context, ev *sale.Event) error {
		if ev.InvoiceID == "inv_flaky" && calls.Add(1) <= 2 {
			return &SendError{Status: 503}
		}
		if ev.InvoiceID == "inv_bad" && refuse.Load() {
			return &SendError{Status: 422, Permanent: true, Body: "no"}
		}
		mu.Lock()
		got[ev.InvoiceID]++
		mu.Unlock()
		return nil
	}}
	a := startFleetNode(t, fleetOpts(srv.URL()), sink)
	b := startFleetNode(t, fleetOpts(srv.URL()), sink)
	a.waitReady(t)
	b.waitReady(t)
	commitOK(t, a, fleetSale(t, "inv_flaky"), Queued)
	commitOK(t, a, fleetSale(t, "inv_bad"), Queued)
	waitDrained(t, a, b)
	if calls.Load() != 3 {
		t.Errorf("inv_flaky tried %d times, want 3", calls.Load())
	}
	letters, total, err := b.fleet.DeadLetters(0, 10)
	if err != nil || total != 1 || len(letters) != 1 {
		t.Fatalf("dead letters from the other node: %d %v %v", total, letters, err)
	}
	if dl := letters[0]; dl.Event == nil || dl.Event.InvoiceID != "inv_bad" || dl.Status != 422 || dl.Reason != "permanent: 422" {
		t.Fatalf("dead letter: %+v", dl)
	}
	refuse.Store(false)
	if n, err := b.fleet.Replay("inv_bad"); err != nil || n != 1 {
		t.Fatalf("Replay: %d %v", n, err)
	}
	waitDrained(t, a, b)
	if _, total, _ := a.fleet.DeadLetters(0, 10); total != 0 {
		t.Errorf("%d dead letters left after replay", total)
	}
	mu.Lock()
	defer mu.Unlock()
	if got["inv_flaky"] != 1 || got["inv_bad"] != 1 || len(got) != 2 {
		t.Errorf("delivered %v, want each once", got)
	}
}

// TestFleetFlushCutsBackoff: an event waiting out a long backoff is sent at
// once after Flush, from any node.
func TestFleetFlushCutsBackoff(t *testing.T) {
	srv := natstest.Start(t)
	var fail atomic.Bool
	fail.Store(true)
	delivered := make(chan string, 10)
	sink := &funcSink{name: "platform", send: func(ctx context.Context, ev *sale.Event) error {
		if fail.Load() {
			return &SendError{Status: 503}
		}
		delivered <- ev.InvoiceID
		return nil
	}}
	a := startFleetNode(t, fleetOpts(srv.URL()), sink)
	slowRetry := emFast()
	slowRetry.BackoffBase, slowRetry.BackoffCap = time.Hour, time.Hour
	a.fleet.Reconfigure([]Sink{sink}, slowRetry)
	a.waitReady(t)
	commitOK(t, a, fleetSale(t, "inv_wait"), Queued)
	waitFor(t, "the first failure", func() bool { return a.fleet.counters.sink("platform").retried.Load() == 1 })
	fail.Store(false)
	if err := a.fleet.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	select {
	case inv := <-delivered:
		if inv != "inv_wait" {
			t.Fatalf("delivered %s", inv)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("not delivered after Flush")
	}
}

// TestFleetRefusesOtherSettings: a stream that exists with another
// duplicate window is reported, not changed.
func TestFleetRefusesOtherSettings(t *testing.T) {
	srv := natstest.Start(t)
	js := natsJS(t, srv.URL())
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: DefaultFleetStream,
		Subjects: []string{DefaultFleetStream + ".events"}, Retention: jetstream.WorkQueuePolicy, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	f := NewFleet(fleetOpts(srv.URL()), nil, emFast(), nil, nil)
	err := f.Start()
	var se *SettingsError
	if !errors.As(err, &se) {
		f.Stop()
		t.Fatalf("Start: %v, want a SettingsError", err)
	}
	if want := "duplicate_window: has 1m0s, config wants 2m0s"; se.Diffs[0] != want {
		t.Errorf("diff %q, want %q", se.Diffs[0], want)
	}
	s, _ := js.Stream(context.Background(), DefaultFleetStream)
	if s.CachedInfo().Config.Duplicates != time.Minute {
		t.Error("the stream's settings were changed")
	}
}

// TestFleetClusterLosesANode: with a three-node cluster, one server shut
// down mid-traffic loses nothing and doubles nothing.
func TestFleetClusterLosesANode(t *testing.T) {
	c := natstest.StartCluster(t)
	p := newPlatform(t)
	opts := fleetOpts(c.URL())
	// Sends hang below, so their timeout matters: at most half of
	// ack_wait, as the module sets it, or an event a node holds waiting
	// for a free slot would be handed to the other node meanwhile.
	sink := func() Sink {
		s, err := NewHTTPSink(HTTPSinkOptions{Endpoint: p.URL + "/v1/sales", APIKey: testAPIKey, Timeout: opts.AckWait / 2})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := startFleetNode(t, opts, sink())
	b := startFleetNode(t, opts, sink())
	a.waitReady(t)
	b.waitReady(t)
	if r := a.fleet.Stats(); r.Queued != 0 {
		t.Fatalf("fresh stream holds %d", r.Queued)
	}
	var invoices []string
	commit := func(i int) {
		inv := fmt.Sprintf("cl_%d", i)
		invoices = append(invoices, inv)
		commitOK(t, []*fleetNode{a, b}[i%2], fleetSale(t, inv), Queued)
	}
	i := 0
	for ; i < 60; i++ {
		commit(i)
	}
	// The server goes down while every send of both nodes hangs at the
	// platform. A send's slot is freed only after its ack, so no send the
	// platform accepted then still waits for its ack: one lost with the
	// server would make the stream send that event again, under the same
	// idempotency key, which a platform dedups but the exact counts here
	// would not.
	p.Hang()
	slots := cap(a.fleet.slots) + cap(b.fleet.slots)
	for ; p.Hanging() < slots; i++ {
		if i == 200 {
			waitFor(t, "every node's sends to hang", func() bool { return p.Hanging() >= slots })
			break
		}
		commit(i)
	}
	c.Nodes[0].Shutdown()
	p.Accept()
	for ; i < 200; i++ {
		commit(i)
	}
	waitDrained(t, a, b)
	waitOnce(t, p, invoices...)
}

func natsJS(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func natsKV(t *testing.T, url, bucket string) jetstream.KeyValue {
	t.Helper()
	kv, err := natsJS(t, url).KeyValue(context.Background(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// TestFleetLaterSinkWaitsForEarlier: the stream cannot record which sinks
// took an event, so a later sink (the file) is sent the event only once
// the earlier one (the platform) took it, not once per failed attempt.
func TestFleetLaterSinkWaitsForEarlier(t *testing.T) {
	srv := natstest.Start(t)
	var platformCalls, fileCalls atomic.Int64
	platform := &funcSink{name: "platform", send: func(context.Context, *sale.Event) error {
		if platformCalls.Add(1) <= 2 {
			return &SendError{Status: 503}
		}
		return nil
	}}
	file := &funcSink{name: "file", send: func(context.Context, *sale.Event) error {
		fileCalls.Add(1)
		return nil
	}}
	a := startFleetNode(t, fleetOpts(srv.URL()), platform, file)
	a.waitReady(t)
	commitOK(t, a, fleetSale(t, "inv_two_sinks"), Queued)
	waitDrained(t, a)
	if platformCalls.Load() != 3 || fileCalls.Load() != 1 {
		t.Errorf("platform sent %d times, file %d; want 3 and 1", platformCalls.Load(), fileCalls.Load())
	}
}

// TestFleetStartsWhileNATSIsDown: a node whose cluster is unreachable at
// start still starts, spooling; it sets the fleet up and forwards once
// the cluster answers.
func TestFleetStartsWhileNATSIsDown(t *testing.T) {
	srv := natstest.Start(t)
	srv.Shutdown()
	p := newPlatform(t)
	opts := fleetOpts(srv.URL())
	opts.SetupWait = 100 * time.Millisecond
	a := startFleetNode(t, opts, platformSink(t, p))
	if st := a.fleet.State(); st == "ready" {
		t.Fatalf("state %s with no server", st)
	}
	commitOK(t, a, fleetSale(t, "inv_early"), Queued)
	if a.forward.Stats().Queued != 1 {
		t.Fatal("the sale should wait in the spool")
	}
	srv.Restart(t)
	a.waitReady(t)
	waitDrained(t, a)
	waitOnce(t, p, "inv_early")
}

// TestFleetRefusesOtherBucketTTLs: a bucket whose TTL is not the one its
// option asks for (dedup_window for the claims, binding_ttl for the
// binding) is reported, not changed.
func TestFleetRefusesOtherBucketTTLs(t *testing.T) {
	for _, tt := range []struct {
		option string
		bucket string
		was    time.Duration
		set    func(*FleetOptions)
	}{
		{"dedup_window", DefaultFleetKVBucket, DefaultDedupWindow, func(o *FleetOptions) { o.DedupWindow = time.Hour }},
		{"binding_ttl", DefaultFleetBindingBucket, DefaultBindingTTL, func(o *FleetOptions) { o.BindingTTL = time.Hour }},
	} {
		t.Run(tt.option, func(t *testing.T) {
			srv := natstest.Start(t)
			a := startFleetNode(t, fleetOpts(srv.URL()))
			a.waitReady(t)
			opts := fleetOpts(srv.URL())
			tt.set(&opts)
			f := NewFleet(opts, nil, emFast(), nil, nil)
			f.ShareBinding(obOpen(t, OutboxOptions{}))
			err := f.Start()
			var se *SettingsError
			if !errors.As(err, &se) || se.Object != "kv bucket "+tt.bucket {
				f.Stop()
				t.Fatalf("Start: %v, want a SettingsError on kv bucket %s", err, tt.bucket)
			}
			st, _ := natsKV(t, srv.URL(), tt.bucket).Status(context.Background())
			if st.TTL() != tt.was {
				t.Errorf("bucket TTL %s: changed", st.TTL())
			}
		})
	}
}

// TestFleetDeadLettersPage: a page of the fleet's dead letters is the
// one asked for, with the count of them all; replaying all of them moves
// each once.
func TestFleetDeadLettersPage(t *testing.T) {
	srv := natstest.Start(t)
	var refuse atomic.Bool
	refuse.Store(true)
	var delivered atomic.Int64
	sink := &funcSink{name: "platform", send: func(ctx context.Context, ev *sale.Event) error {
		if refuse.Load() {
			return &SendError{Status: 422, Permanent: true}
		}
		delivered.Add(1)
		return nil
	}}
	a := startFleetNode(t, fleetOpts(srv.URL()), sink)
	a.waitReady(t)
	for _, inv := range []string{"inv_d0", "inv_d1", "inv_d2"} {
		commitOK(t, a, fleetSale(t, inv), Queued)
	}
	waitDrained(t, a)
	// Buried in the order their deliveries failed: one page each gives
	// every one once.
	seen := map[string]bool{}
	for offset := range 3 {
		letters, total, err := a.fleet.DeadLetters(offset, 1)
		if err != nil || total != 3 || len(letters) != 1 || letters[0].Event == nil {
			t.Fatalf("page (%d, 1): %v of %d, %v; want one of 3", offset, letters, total, err)
		}
		seen[letters[0].Event.InvoiceID] = true
	}
	if !seen["inv_d0"] || !seen["inv_d1"] || !seen["inv_d2"] {
		t.Fatalf("pages of one gave %v, want each dead letter once", seen)
	}
	if letters, total, _ := a.fleet.DeadLetters(5, 10); total != 3 || len(letters) != 0 {
		t.Fatalf("page past the end: %v of %d", letters, total)
	}
	refuse.Store(false)
	if n, err := a.fleet.Replay(""); err != nil || n != 3 {
		t.Fatalf("Replay: %d %v", n, err)
	}
	waitDrained(t, a)
	if _, total, _ := a.fleet.DeadLetters(0, 10); total != 0 || delivered.Load() != 3 {
		t.Fatalf("after replay: %d dead letters, %d delivered", total, delivered.Load())
	}
}
