package delivery

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/sale"
	bolt "go.etcd.io/bbolt"
)

func TestEventID(t *testing.T) {
	sum := sha256.Sum256([]byte("INV-1001"))
	want := "sale_" + hex.EncodeToString(sum[:])[:32]
	if got := sale.EventID("INV-1001"); got != want {
		t.Errorf("sale.EventID(INV-1001) = %q, want %q", got, want)
	}
	a, b := sale.EventID(""), sale.EventID("")
	if a == b || len(a) != len("sale_")+32 || !strings.HasPrefix(a, "sale_") {
		t.Errorf("random ids %q and %q: want distinct sale_ + 32 hex digits", a, b)
	}
}

func TestOutboxCommitAndReadBack(t *testing.T) {
	clock := newObClock()
	ob := obOpen(t, OutboxOptions{Now: clock.Now})
	ev := obSale(t, "INV-1", obT0.Add(-time.Second))
	res, err := ob.Enqueue(ev)
	if err != nil || res != Queued {
		t.Fatalf("Enqueue = %v, %v; want queued", res, err)
	}
	if ev.ID != sale.EventID("INV-1") {
		t.Errorf("Enqueue set ID %q, want %q", ev.ID, sale.EventID("INV-1"))
	}
	noInvoice := obSale(t, "", obT0)
	if _, err := ob.Enqueue(noInvoice); err != nil {
		t.Fatal(err)
	}
	if noInvoice.ID == "" || noInvoice.ID == ev.ID {
		t.Errorf("event without invoice got ID %q", noInvoice.ID)
	}

	ob.fresh = freshEvents{} // read the records from the file, as a resend does
	items, next, err := ob.lease(clock.Now(), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || !next.IsZero() {
		t.Fatalf("lease: %d items, next %v; want 2 and none waiting", len(items), next)
	}
	if items[0].ev != nil {
		t.Fatal("leased from memory; want the record read from the file")
	}
	got, err := sale.DecodeRecord(items[0].rec.Event)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Payload(false), ev.Payload(false)) || got.ID != ev.ID || !got.CapturedAt.Equal(ev.CapturedAt) {
		t.Errorf("read back %s (id %s), want %s (id %s)", got.Payload(false), got.ID, ev.Payload(false), ev.ID)
	}
	rec := items[0].rec
	if rec.Attempts != 0 || !rec.NextAttempt.Equal(obT0) || !rec.Since.Equal(ev.CapturedAt) || len(rec.Accepted) != 0 {
		t.Errorf("fresh record bookkeeping = %+v", rec)
	}
	if items[0].seq >= items[1].seq {
		t.Errorf("sequence not in enqueue order: %d then %d", items[0].seq, items[1].seq)
	}
	if q := ob.queued.Load(); q != 2 {
		t.Errorf("queued = %d, want 2", q)
	}
	info, err := os.Stat(ob.path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("outbox file mode %v: want no group/other access", perm)
	}
}

func TestOutboxLeaseSkipsBusyAndFuture(t *testing.T) {
	clock := newObClock()
	ob := obOpen(t, OutboxOptions{Now: clock.Now})
	for i := range 5 {
		if _, err := ob.Enqueue(obSale(t, fmt.Sprint("INV-", i), obT0)); err != nil {
			t.Fatal(err)
		}
	}
	items, _, err := ob.lease(obT0, 10, nil)
	if err != nil || len(items) != 5 {
		t.Fatalf("lease: %d, %v", len(items), err)
	}
	later := obT0.Add(time.Minute)
	if err := ob.reschedule(items[0].seq, later, failure{sink: "http", err: "boom"}, nil); err != nil {
		t.Fatal(err)
	}
	busy := func(seq uint64) bool { return seq == items[1].seq }
	got, next, err := ob.lease(obT0, 2, busy)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].seq != items[2].seq || got[1].seq != items[3].seq {
		t.Fatalf("page of 2 skipping busy: got %v", leasedSeqs(got))
	}
	if !next.Equal(obT0) {
		t.Errorf("next = %v, want %v (a due event left over)", next, obT0)
	}
	got, next, err = ob.lease(obT0, 10, func(seq uint64) bool { return seq != items[0].seq })
	if err != nil || len(got) != 0 || !next.Equal(later) {
		t.Fatalf("only the rescheduled one left: got %v, next %v, %v; want none due, next %v", leasedSeqs(got), next, err, later)
	}
	got, _, err = ob.lease(later, 10, busy)
	if err != nil || len(got) != 4 || got[3].seq != items[0].seq || got[3].rec.Attempts != 1 || got[3].rec.LastError != "boom" {
		t.Fatalf("at %v: got %v (%+v), %v", later, leasedSeqs(got), got, err)
	}
}

func leasedSeqs(items []leased) []uint64 {
	var out []uint64
	for _, it := range items {
		out = append(out, it.seq)
	}
	return out
}

func TestOutboxMakeAllDue(t *testing.T) {
	ob := obOpen(t, OutboxOptions{Now: newObClock().Now})
	for i := range 3 {
		if _, err := ob.Enqueue(obSale(t, fmt.Sprint("INV-", i), obT0)); err != nil {
			t.Fatal(err)
		}
	}
	items, _, _ := ob.lease(obT0, 10, nil)
	for i, it := range items[1:] {
		if err := ob.reschedule(it.seq, obT0.Add(time.Duration(i+1)*time.Hour), failure{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	now := obT0.Add(time.Minute)
	if n, err := ob.makeAllDue(now); err != nil || n != 2 {
		t.Fatalf("makeAllDue moved %d, %v; want the 2 waiting", n, err)
	}
	obCheckIndex(t, ob)
	got, next, err := ob.lease(now, 10, nil)
	if err != nil || len(got) != 3 || !next.IsZero() {
		t.Fatalf("after flush: %d due, next %v, %v", len(got), next, err)
	}
	for _, it := range got[1:] {
		if !it.rec.NextAttempt.Equal(now) || it.rec.Attempts != 1 {
			t.Errorf("record %d: %+v", it.seq, it.rec)
		}
	}
}

func TestOutboxDedupWindow(t *testing.T) {
	clock := newObClock()
	ob := obOpen(t, OutboxOptions{Now: clock.Now, DedupWindow: time.Hour})
	enqueue := func(inv string) EnqueueResult {
		t.Helper()
		res, err := ob.Enqueue(obSale(t, inv, clock.Now()))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if r := enqueue("INV-A"); r != Queued {
		t.Fatalf("first INV-A: %v", r)
	}
	clock.Advance(time.Hour - time.Nanosecond)
	if r := enqueue("INV-A"); r != Duplicate {
		t.Fatalf("INV-A within the window: %v, want duplicate", r)
	}
	if r := enqueue("INV-B"); r != Queued {
		t.Fatalf("INV-B: %v", r)
	}
	clock.Advance(time.Nanosecond)
	if r := enqueue("INV-A"); r != Queued {
		t.Fatalf("INV-A after the window: %v, want queued", r)
	}
	if got := obInvoices(t, obQueued(t, ob)); !slices.Equal(got, []string{"INV-A", "INV-B", "INV-A"}) {
		t.Errorf("queued invoices = %v", got)
	}
	if ob.duplicates.Load() != 1 || ob.enqueued.Load() != 3 {
		t.Errorf("duplicates %d, enqueued %d; want 1, 3", ob.duplicates.Load(), ob.enqueued.Load())
	}

	// INV-B's key (set at 1h-1ns) expires at 2h-1ns; INV-A's renewed one at 2h.
	clock.Advance(time.Hour - time.Nanosecond)
	n, err := ob.sweepDedup(clock.Now())
	if err != nil || n != 1 {
		t.Fatalf("sweep removed %d, %v; want 1", n, err)
	}
	if keys := obDedupKeys(t, ob); !slices.Equal(keys, []string{"INV-A"}) {
		t.Errorf("dedup keys after sweep = %v, want [INV-A]", keys)
	}
	if r := enqueue("INV-A"); r != Duplicate {
		t.Errorf("INV-A with its renewed key: %v, want duplicate", r)
	}
}

func TestOutboxDuplicateWritesNothing(t *testing.T) {
	ob := obOpen(t, OutboxOptions{})
	if _, err := ob.Enqueue(obSale(t, "INV-1", obT0)); err != nil {
		t.Fatal(err)
	}
	txid := func() (id int) {
		_ = ob.view("txid", func(tx *bolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	before := txid()
	dup := obSale(t, "INV-1", obT0)
	if res, err := ob.Enqueue(dup); err != nil || res != Duplicate {
		t.Fatalf("second INV-1: %v, %v", res, err)
	}
	if after := txid(); after != before {
		t.Errorf("a duplicate committed a transaction (txid %d → %d)", before, after)
	}
	if n := len(obQueued(t, ob)); n != 1 {
		t.Errorf("%d queued, want 1", n)
	}
	if dup.ID != sale.EventID("INV-1") {
		t.Errorf("duplicate's ID = %q; want the original's, for logs", dup.ID)
	}
}

func TestOutboxConcurrentEnqueue(t *testing.T) {
	ob := obOpen(t, OutboxOptions{})
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			inv := fmt.Sprintf("INV-%03d", i)
			if res, err := ob.Enqueue(obSale(t, inv, obT0)); err != nil || res != Queued {
				errs <- fmt.Errorf("%s: %v, %v", inv, res, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := obInvoices(t, obQueued(t, ob))
	slices.Sort(got)
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("INV-%03d", i)
	}
	if !slices.Equal(got, want) {
		t.Errorf("queued %d events, want exactly INV-000..INV-199 once each", len(got))
	}
	if ob.queued.Load() != n || ob.enqueued.Load() != n {
		t.Errorf("queued %d, enqueued %d; want %d", ob.queued.Load(), ob.enqueued.Load(), n)
	}
}

func TestOutboxConcurrentSameInvoice(t *testing.T) {
	ob := obOpen(t, OutboxOptions{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	results := map[EnqueueResult]int{}
	for range 50 {
		wg.Go(func() {
			res, err := ob.Enqueue(obSale(t, "INV-SAME", obT0))
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			results[res]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if results[Queued] != 1 || results[Duplicate] != 49 {
		t.Errorf("50 captures of one invoice: %v; want 1 queued, 49 duplicates", results)
	}
}

// Queued events are packed into pages at least three quarters full: their keys only grow,
// and half-empty pages would double the file and the memory it maps while
// the platform is down.
func TestOutboxPacksQueuedEvents(t *testing.T) {
	ob := obOpen(t, OutboxOptions{})
	const workers, each = 16, 150
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := 0; i < each; i++ {
				if _, err := ob.Enqueue(obSale(t, fmt.Sprintf("INV-%d-%d", w, i), obT0)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	err := ob.view("stats", func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketEvents, bucketDue} {
			st := tx.Bucket(name).Stats()
			if st.KeyN != workers*each {
				t.Errorf("%s: %d keys, want %d", name, st.KeyN, workers*each)
			}
			if fill := float64(st.LeafInuse) / float64(st.LeafAlloc); fill < 0.75 {
				t.Errorf("%s: leaf pages %.0f%% full (%d of %d bytes), want at least 75%%", name, fill*100, st.LeafInuse, st.LeafAlloc)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
