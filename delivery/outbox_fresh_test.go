package delivery

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/sale"
)

// leaseOne leases exactly one due event.
func leaseOne(t *testing.T, ob *Outbox, now time.Time) leased {
	t.Helper()
	items, _, err := ob.lease(now, 10, nil)
	if err != nil || len(items) != 1 {
		t.Fatalf("lease: %d items, %v; want 1", len(items), err)
	}
	return items[0]
}

// The first attempt gets the event as it was captured; a retry reads the
// record from the file, and both send the same bytes.
func TestOutboxFirstAttemptFromMemory(t *testing.T) {
	clock := newObClock()
	ob := obOpen(t, OutboxOptions{Now: clock.Now})
	ev := obSale(t, "INV-FRESH", obT0.Add(-time.Second))
	if _, err := ob.Enqueue(ev); err != nil {
		t.Fatal(err)
	}
	first := leaseOne(t, ob, clock.Now())
	if first.ev != ev {
		t.Fatal("first attempt did not get the captured event from memory")
	}
	if first.rec.Attempts != 0 || !first.rec.Since.Equal(ev.CapturedAt) || len(first.rec.Accepted) != 0 {
		t.Errorf("first attempt's bookkeeping = %+v", first.rec)
	}
	if err := ob.reschedule(first.seq, clock.Now(), failure{sink: "http", err: "503"}, nil); err != nil {
		t.Fatal(err)
	}
	retry := leaseOne(t, ob, clock.Now())
	if retry.ev != nil || retry.seq != first.seq || retry.rec.Attempts != 1 {
		t.Fatalf("retry: from memory %v, seq %d (want %d), attempts %d (want 1)", retry.ev != nil, retry.seq, first.seq, retry.rec.Attempts)
	}
	again, err := retry.event()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Payload(false), ev.Payload(false)) || !bytes.Equal(again.Payload(true), ev.Payload(true)) || again.ID != ev.ID {
		t.Errorf("retry sends %s, first attempt sent %s", again.Payload(false), ev.Payload(false))
	}
}

// An entry left by a transaction that rolled back never stands in for the
// event that later commits under the same seq.
func TestOutboxFreshEntryOfARolledBackSeq(t *testing.T) {
	clock := newObClock()
	ob := obOpen(t, OutboxOptions{Now: clock.Now})
	stale := obSale(t, "INV-ROLLED-BACK", obT0)

	// An enqueue takes seq 1 and overwrites what a rolled-back one left.
	ob.fresh.put(1, stale, obT0)
	ev := obSale(t, "INV-REAL", obT0)
	if _, err := ob.Enqueue(ev); err != nil {
		t.Fatal(err)
	}
	if it := leaseOne(t, ob, clock.Now()); it.seq != 1 || it.ev != ev {
		t.Fatalf("seq %d leased %v, want seq 1 with the enqueued event", it.seq, it.ev)
	}

	// A replay takes the next seq and drops what a rolled-back enqueue left.
	if err := ob.bury(1, nil, "permanent: 422", failure{sink: "http", status: 422}, clock.Now()); err != nil {
		t.Fatal(err)
	}
	ob.fresh.put(2, stale, obT0)
	if n, err := ob.replay("", clock.Now()); err != nil || n != 1 {
		t.Fatalf("replay = %d, %v", n, err)
	}
	it := leaseOne(t, ob, clock.Now())
	got, err := it.event()
	if err != nil {
		t.Fatal(err)
	}
	if it.seq != 2 || it.ev != nil || got.InvoiceID != "INV-REAL" {
		t.Fatalf("seq %d: from memory %v, invoice %s; want seq 2 read from the file, INV-REAL", it.seq, it.ev != nil, got.InvoiceID)
	}
}

// An event that decoding would change is not kept: its first attempt
// reads the file like any resend, so every attempt sends the same bytes.
func TestOutboxFreshSkipsInvalidUTF8(t *testing.T) {
	ob := obOpen(t, OutboxOptions{})
	ev := obSale(t, "INV-UTF8", obT0)
	ev.CustomerName = "Bad \xff Name"
	if _, err := ob.Enqueue(ev); err != nil {
		t.Fatal(err)
	}
	it := leaseOne(t, ob, time.Now())
	if it.ev != nil {
		t.Fatal("an event with invalid UTF-8 came from memory")
	}
	got, err := it.event()
	if err != nil {
		t.Fatal(err)
	}
	if got.CustomerName != "Bad \uFFFD Name" {
		t.Errorf("name read back as %q", got.CustomerName)
	}
}

// However many events wait, at most freshMax are held in memory.
func TestOutboxFreshIsBounded(t *testing.T) {
	var f freshEvents
	ev := &sale.Event{ID: "x"}
	for seq := uint64(1); seq <= freshMax+10; seq++ {
		f.put(seq, ev, obT0)
	}
	if n := len(f.m); n != freshMax {
		t.Fatalf("%d entries, want %d", n, freshMax)
	}
	if _, ok := f.take(freshMax + 5); ok {
		t.Error("an entry past the bound was kept")
	}
}

// Deleting a delivered event reads only next_attempt, and finds what
// decoding the whole record finds.
func TestStoredNextAttemptMatchesDecoding(t *testing.T) {
	ev := obSale(t, "INV-NEXT", obT0)
	ev.ID = sale.EventID(ev.InvoiceID)
	fresh, err := appendNewRecord(nil, ev, obT0.Add(time.Nanosecond), obT0)
	if err != nil {
		t.Fatal(err)
	}
	var rec record
	if err := json.Unmarshal(fresh, &rec); err != nil {
		t.Fatal(err)
	}
	rec.Attempts, rec.NextAttempt, rec.LastBody = 3, obT0.Add(90*time.Minute).In(time.FixedZone("x", 3600)), `{"next_attempt":"1999-01-01T00:00:00Z"}`
	rescheduled, _ := json.Marshal(&rec)
	for _, v := range [][]byte{fresh, rescheduled} {
		var want record
		if err := json.Unmarshal(v, &want); err != nil {
			t.Fatal(err)
		}
		got, ok := storedNextAttempt(v)
		if !ok || !got.Equal(want.NextAttempt) {
			t.Errorf("storedNextAttempt = %v, %v; decoding says %v", got, ok, want.NextAttempt)
		}
	}
	if _, ok := storedNextAttempt([]byte("{not json")); ok {
		t.Error("read a time from garbage")
	}
}
