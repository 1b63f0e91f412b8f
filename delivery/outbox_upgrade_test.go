package delivery

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/saletrack/caddy-saletrack/sale"
)

// An outbox written before sale and delivery were split (two queued sales
// and their dedup keys, in testdata/outbox-v1.db) is read and delivered by
// this code, each sale with the payload it was captured with, and its
// invoices still dedup.
func TestOutboxWrittenByEarlierVersionIsDelivered(t *testing.T) {
	old, err := os.ReadFile(filepath.Join("testdata", "outbox-v1.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "outbox.db")
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	clock := newObClock()
	ob, err := OpenOutbox(path, OutboxOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })

	if res, err := ob.Enqueue(obSale(t, "inv_1", obT0)); err != nil || res != Duplicate {
		t.Fatalf("re-enqueue of an invoice the old outbox holds: %v, %v; want a duplicate", res, err)
	}

	var mu sync.Mutex
	var payloads, lines []string
	sink := &funcSink{name: "http", send: func(_ context.Context, ev *sale.Event) error {
		mu.Lock()
		defer mu.Unlock()
		payloads = append(payloads, string(ev.Payload(false)))
		lines = append(lines, string(FileLine(ev)))
		return nil
	}}
	opts := emFast()
	opts.Now = clock.Now
	emStart(t, ob, []Sink{sink}, opts)
	waitFor(t, "both old sales delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(payloads) == 2
	})
	sort.Strings(payloads)
	want := []string{
		`{"event":"purchase","timestamp":"2026-04-10T12:46:10.000Z","customerExternalId":"user_456","currency":"JPY","amount":1999,"invoiceId":"inv_2"}`,
		`{"event":"sale","timestamp":"2026-04-10T12:45:10.000Z","customerExternalId":"user_123","email":"alex@example.com","name":"Alex Johnson","currency":"EUR","amount":199.0,"invoiceId":"inv_1","clickId":"cl_42"}`,
	}
	for i := range want {
		if payloads[i] != want[i] {
			t.Errorf("payload %d:\n got %s\nwant %s", i, payloads[i], want[i])
		}
	}
	sort.Strings(lines)
	wantLine := want[1][:len(want[1])-1] + `,"amountUsd":216.78,"fxRate":"1.0894","fxDate":"2026-04-09","eventId":"` + sale.EventID("inv_1") + `"}` + "\n"
	if lines[1] != wantLine {
		t.Errorf("file line of the old EUR sale:\n got %s\nwant %s", lines[1], wantLine)
	}
}
