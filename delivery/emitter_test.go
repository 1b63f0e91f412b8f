package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
	"github.com/saletrack/caddy-saletrack/sale"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestEmitterDeliversEachSaleOnceWithStableKey(t *testing.T) {
	// Every third invoice gets a 503 first, every third after that two 500s.
	failures := func(i int) int { return []int{1, 2, 0}[i%3] }
	const n = 30
	index := map[string]int{}
	for i := range n {
		index[fmt.Sprintf("INV-%02d", i)] = i
	}
	platform := newPlatform(t)
	platform.Script(func(r fake.Request) fake.Reply {
		i := index[r.InvoiceID]
		switch {
		case r.Attempt < failures(i) && i%3 == 0:
			return fake.Reply{Status: 503}
		case r.Attempt < failures(i):
			return fake.Reply{Status: 500}
		}
		return fake.Reply{Status: 201}
	})
	ob := obOpen(t, OutboxOptions{})
	e := emStart(t, ob, []Sink{platformSink(t, platform)}, emFast())

	var want []string
	for i := range n {
		inv := fmt.Sprintf("INV-%02d", i)
		want = append(want, inv)
		enqueueOK(t, e, obSale(t, inv, time.Now()))
	}
	for i := range n { // a reloaded thank-you page captures each sale again
		if res, err := e.Enqueue(obSale(t, fmt.Sprintf("INV-%02d", i), time.Now())); err != nil || res != Duplicate {
			t.Fatalf("second capture: %v, %v", res, err)
		}
	}
	waitFor(t, "all delivered", func() bool { return e.Stats().Delivered == n })

	if got := acceptedInvoices(platform); !slices.Equal(got, want) {
		t.Errorf("accepted %v\nwant %v", got, want)
	}
	retries := uint64(0)
	for inv, i := range index {
		keys := platform.Keys(inv)
		if len(keys) != failures(i)+1 {
			t.Errorf("%s: %d attempts, want %d", inv, len(keys), failures(i)+1)
		}
		for _, k := range keys {
			if k != sale.EventID(inv) {
				t.Errorf("%s: Idempotency-Key %q, want %q on every attempt", inv, k, sale.EventID(inv))
			}
		}
		retries += uint64(failures(i))
	}
	st := e.Stats()
	want2 := SinkStats{Sent: n, Retried: retries}
	if st.Queued != 0 || st.Dead != 0 || st.Enqueued != n || st.Duplicates != n || st.Sinks["http"] != want2 {
		t.Errorf("stats %+v; want nothing queued or dead, %d enqueued and duplicates, http %+v", st, n, want2)
	}
}

func TestEmitterBoundedConcurrency(t *testing.T) {
	ob := obOpen(t, OutboxOptions{})
	var running, peak atomic.Int32
	var mu sync.Mutex
	got := map[string]int{}
	sink := &funcSink{name: "count", send: func(ctx context.Context, ev *sale.Event) error {
		now := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
		}
		time.Sleep(time.Millisecond) // long enough for sends to overlap
		mu.Lock()
		got[ev.InvoiceID]++
		mu.Unlock()
		return nil
	}}
	const n = 120
	for i := range n {
		if _, err := ob.Enqueue(obSale(t, fmt.Sprint("INV-", i), obT0)); err != nil {
			t.Fatal(err)
		}
	}
	opts := emFast()
	opts.Concurrency = 3
	e := NewEmitter(ob, []Sink{sink}, opts)
	e.Start()
	e.Start() // a second Start must not start a second loop
	defer e.Stop()
	waitFor(t, "all delivered", func() bool {
		if f := e.Stats().InFlight; f > 3 {
			t.Errorf("in flight %d > concurrency 3", f)
		}
		return e.Stats().Delivered == n
	})
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("peak concurrent sends %d, want 2..3 (concurrency 3)", p)
	}
	for i := range n {
		if c := got[fmt.Sprint("INV-", i)]; c != 1 {
			t.Errorf("INV-%d sent %d times", i, c)
		}
	}
}

func TestEmitterStopRestart(t *testing.T) {
	platform := newPlatform(t)
	ob := obOpen(t, OutboxOptions{})
	e := NewEmitter(ob, []Sink{platformSink(t, platform)}, emFast())
	if err := e.Stop(); err != nil { // stopping a stopped emitter is fine
		t.Fatal(err)
	}
	e.Start()
	enqueueOK(t, e, obSale(t, "INV-1", time.Now()))
	waitFor(t, "INV-1", func() bool { return e.Stats().Delivered == 1 })
	if err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	// Captured while stopped (a reload): kept, sent after the next Start.
	enqueueOK(t, e, obSale(t, "INV-2", time.Now()))
	if st := e.Stats(); st.Queued != 1 || len(acceptedInvoices(platform)) != 1 {
		t.Fatalf("while stopped: %+v, accepted %v", st, acceptedInvoices(platform))
	}
	e.Start()
	defer e.Stop()
	waitFor(t, "INV-2 after restart", func() bool { return e.Stats().Delivered == 2 })
	if got := acceptedInvoices(platform); !slices.Equal(got, []string{"INV-1", "INV-2"}) {
		t.Errorf("accepted %v", got)
	}
}

func TestEmitterStopWithSlowPlatform(t *testing.T) {
	platform := newPlatform(t)
	platform.Hang()
	path := filepath.Join(t.TempDir(), "sales.db")
	ob, err := OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opts := emFast()
	opts.ShutdownTimeout = 150 * time.Millisecond
	e := NewEmitter(ob, []Sink{platformSink(t, platform)}, opts)
	e.Start()
	enqueueOK(t, e, obSale(t, "INV-SLOW", time.Now()))
	platform.WaitRequests(t, 1)

	start := time.Now()
	if err := e.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	took := time.Since(start)
	if took < opts.ShutdownTimeout || took > opts.ShutdownTimeout+time.Second {
		t.Errorf("Stop took %v; want the shutdown timeout (%v) and a prompt cancel", took, opts.ShutdownTimeout)
	}
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}

	ob, err = OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	recs := obQueued(t, ob)
	if len(recs) != 1 || recs[0].Attempts != 0 {
		t.Fatalf("after reopen: %+v; want the event, with the interrupted send not counted", recs)
	}
	platform.Accept()
	e = emStart(t, ob, []Sink{platformSink(t, platform)}, emFast())
	waitFor(t, "delivery after restart", func() bool { return e.Stats().Delivered == 1 })
	if keys := platform.Keys("INV-SLOW"); len(keys) != 2 || keys[0] != keys[1] {
		t.Errorf("keys across the restart: %v", keys)
	}
}

func TestEmitterReconfigureSwapsSinks(t *testing.T) {
	down, up := newPlatform(t), newPlatform(t)
	down.Fail(502, "")
	clock := newObClock()
	ob := obOpen(t, OutboxOptions{Now: clock.Now})
	e := emStart(t, ob, []Sink{platformSink(t, down)}, emFrozen(clock))
	enqueueOK(t, e, obSale(t, "INV-1", clock.Now()))
	waitFor(t, "a failed attempt on the old sink", func() bool { return e.Stats().Sinks["http"].Retried == 1 })

	e.Reconfigure([]Sink{platformSink(t, up)}, emFrozen(clock))
	e.Flush()
	waitFor(t, "delivery on the new sink", func() bool { return e.Stats().Delivered == 1 })
	enqueueOK(t, e, obSale(t, "INV-2", clock.Now()))
	waitFor(t, "INV-2", func() bool { return e.Stats().Delivered == 2 })
	if got := acceptedInvoices(up); !slices.Equal(got, []string{"INV-1", "INV-2"}) {
		t.Errorf("new sink accepted %v", got)
	}
	if got := down.Keys("INV-2"); len(got) != 0 {
		t.Errorf("old sink still used after Reconfigure: %v", got)
	}
}

func TestEmitterStats(t *testing.T) {
	clock := newObClock()
	ob := obOpen(t, OutboxOptions{Now: clock.Now})
	e := NewEmitter(ob, []Sink{&funcSink{name: "http"}}, EmitterOptions{Now: clock.Now})
	if st := e.Stats(); st.OldestAgeSeconds != 0 || st.Queued != 0 {
		t.Errorf("empty: %+v", st)
	}
	enqueueOK(t, e, obSale(t, "INV-1", obT0.Add(-30*time.Second)))
	clock.Advance(15 * time.Second)
	enqueueOK(t, e, obSale(t, "INV-2", clock.Now()))
	st := e.Stats()
	if st.Queued != 2 || st.OldestAgeSeconds != 45 || st.Enqueued != 2 {
		t.Errorf("stats %+v; want 2 queued, oldest 45s", st)
	}
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	_ = json.Unmarshal(raw, &fields)
	for _, key := range []string{"queued", "in_flight", "dead", "oldest_age_seconds", "enqueued",
		"duplicates", "storage_failures", "dead_lettered", "delivered", "replayed", "sinks"} {
		if _, ok := fields[key]; !ok {
			t.Errorf("stats JSON lacks %q: %s", key, raw)
		}
	}
	if !strings.Contains(string(raw), `"sinks":{"http":{"sent":0,"retried":0,"failed":0}}`) {
		t.Errorf("configured sink not reported with zeros: %s", raw)
	}
}

func TestEmitterLogsNoSecrets(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	platform := newPlatform(t)
	platform.Script(func(r fake.Request) fake.Reply {
		if r.Attempt == 0 {
			return fake.Reply{Status: 500, Body: "upstream sad"}
		}
		return fake.Reply{Status: 422, Body: `{"error":"bad"}`}
	})
	sink, err := NewHTTPSink(HTTPSinkOptions{Endpoint: platform.URL + "?k=" + testAPIKey, APIKey: testAPIKey, SigningSecret: "hush-hush-secret"})
	if err != nil {
		t.Fatal(err)
	}
	ob := obOpen(t, OutboxOptions{Logger: zap.New(core)})
	opts := emFast()
	opts.Logger = zap.New(core)
	e := emStart(t, ob, []Sink{sink}, opts)
	enqueueOK(t, e, obSale(t, "INV-LOG", time.Now()))
	waitFor(t, "the dead letter", func() bool { return e.Stats().Dead == 1 })
	if err := e.Stop(); err != nil {
		t.Fatal(err)
	}

	warned := false
	for _, entry := range logs.All() {
		text := entry.Message + fmt.Sprint(entry.ContextMap())
		if strings.Contains(text, testAPIKey) || strings.Contains(text, "hush-hush-secret") {
			t.Errorf("log leaks a secret: %s", text)
		}
		if entry.Level > zapcore.DebugLevel && (strings.Contains(text, "buyer@example.com") || strings.Contains(text, "Ada Buyer")) {
			t.Errorf("email or name logged at %v: %s", entry.Level, text)
		}
		if entry.Level == zapcore.InfoLevel {
			t.Errorf("per-event INFO log: %s", text)
		}
		if entry.Level == zapcore.WarnLevel && entry.Message == "sale moved to dead letters" {
			warned = true
			// The line names the event, so the dead letter can be found.
			fields := entry.ContextMap()
			if fields["invoice_id"] != "INV-LOG" || fields["event_id"] != sale.EventID("INV-LOG") || fields["seq"] == nil || fields["status"] != int64(422) {
				t.Errorf("the dead-letter WARN does not name the event: %v", fields)
			}
		}
	}
	if !warned {
		t.Error("no WARN when the sale became a dead letter")
	}
	if n := logs.FilterLevelExact(zapcore.WarnLevel).Len(); n != 1 {
		t.Errorf("%d WARN entries, want exactly 1 (the retry is DEBUG)", n)
	}
}

func TestEmitterUndecodableRecordIsKept(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	ob := obOpen(t, OutboxOptions{Logger: zap.New(core)})
	garbage := []byte("{not json")
	err := ob.update("plant garbage", func(tx *bolt.Tx) error {
		seq, _ := tx.Bucket(bucketEvents).NextSequence()
		if err := tx.Bucket(bucketEvents).Put(seqKey(seq), garbage); err != nil {
			return err
		}
		return tx.Bucket(bucketDue).Put(dueKey(obT0, seq), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	ob.queued.Add(1)
	e := emStart(t, ob, []Sink{&funcSink{name: "x", send: func(context.Context, *sale.Event) error { return nil }}}, emFast())
	waitFor(t, "the dead letter", func() bool { return e.Stats().Dead == 1 })
	letters, total, err := e.DeadLetters(0, 10)
	if err != nil || total != 1 || letters[0].Reason != "undecodable record" || letters[0].Event != nil {
		t.Fatalf("dead letters %+v, %d, %v", letters, total, err)
	}
	if want, _ := json.Marshal(string(garbage)); string(letters[0].Raw) != string(want) {
		t.Errorf("raw kept as %s, want %s", letters[0].Raw, want)
	}
	if err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	obCheckIndex(t, ob)
	if n := logs.FilterMessage("dropping stale outbox index entries").Len(); n != 0 {
		t.Errorf("the dead-lettered record left its index entry behind (dropped %d times)", n)
	}
}

func TestEmitterStuckSinkIsNotSentTwice(t *testing.T) {
	ob := obOpen(t, OutboxOptions{})
	release := make(chan struct{})
	var sends atomic.Int32
	stuck := &funcSink{name: "stuck", send: func(ctx context.Context, ev *sale.Event) error {
		sends.Add(1)
		<-release // ignores ctx: a badly behaved sink
		return nil
	}}
	opts := emFast()
	opts.ShutdownTimeout = 50 * time.Millisecond
	e := NewEmitter(ob, []Sink{stuck}, opts)
	e.Start()
	enqueueOK(t, e, obSale(t, "INV-STUCK", time.Now()))
	waitFor(t, "the send to start", func() bool { return sends.Load() == 1 })
	if err := e.Stop(); err == nil {
		t.Error("Stop with a send that ignores cancellation: nil error, want a report")
	}
	// Restarted while the old send still runs: the event stays leased to it.
	e.Start()
	defer e.Stop()
	e.Flush()
	if st := e.Stats(); st.InFlight != 1 || st.Queued != 1 {
		t.Errorf("stats with the stuck send: %+v", st)
	}
	close(release)
	waitFor(t, "the stuck send to finish", func() bool { return e.Stats().Delivered == 1 })
	if n := sends.Load(); n != 1 {
		t.Errorf("%d sends, want 1", n)
	}
}

func TestEmitterSweepsDedupKeys(t *testing.T) {
	clock := newObClock()
	ob := obOpen(t, OutboxOptions{Now: clock.Now, DedupWindow: time.Hour})
	sink := &funcSink{name: "x", send: func(context.Context, *sale.Event) error { return nil }}
	e := NewEmitter(ob, []Sink{sink}, EmitterOptions{Now: clock.Now})
	enqueueOK(t, e, obSale(t, "INV-OLD", clock.Now()))
	clock.Advance(time.Hour)
	enqueueOK(t, e, obSale(t, "INV-NEW", clock.Now()))
	e.Start() // sweeps on start
	defer e.Stop()
	waitFor(t, "delivery", func() bool { return e.Stats().Delivered == 2 })
	waitFor(t, "the sweep", func() bool { return slices.Equal(obDedupKeys(t, ob), []string{"INV-NEW"}) })
}

func TestEmitterWithoutSinksKeepsEvents(t *testing.T) {
	ob := obOpen(t, OutboxOptions{})
	e := emStart(t, ob, nil, emFast())
	enqueueOK(t, e, obSale(t, "INV-1", time.Now()))
	e.Flush()
	if err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	if st := e.Stats(); st.Queued != 1 || st.Delivered != 0 {
		t.Fatalf("with no sinks: %+v; want the event kept", st)
	}
	var got atomic.Int32
	e.Reconfigure([]Sink{&funcSink{name: "x", send: func(context.Context, *sale.Event) error { got.Add(1); return nil }}}, emFast())
	e.Start()
	waitFor(t, "delivery once a sink is configured", func() bool { return e.Stats().Delivered == 1 })
	if got.Load() != 1 {
		t.Errorf("%d sends", got.Load())
	}
}
