package delivery

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bojanz/currency"
	"github.com/saletrack/caddy-saletrack/sale"
	bolt "go.etcd.io/bbolt"
)

// obT0 is the delivery tests' starting time.
var obT0 = time.Date(2026, 4, 10, 12, 45, 10, 0, time.UTC)

// obClock is an injectable clock; it moves only when told.
type obClock struct {
	mu sync.Mutex
	t  time.Time
}

func newObClock() *obClock { return &obClock{t: obT0} }

func (c *obClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *obClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// obSale is a sale with the given invoice id, captured at capturedAt.
func obSale(t testing.TB, invoice string, capturedAt time.Time) *sale.Event {
	t.Helper()
	amount, err := currency.NewAmount("12.30", "EUR")
	if err != nil {
		t.Fatal(err)
	}
	return &sale.Event{
		EventName:          "sale",
		Timestamp:          capturedAt,
		CustomerExternalID: "cust-" + invoice,
		CustomerEmail:      "buyer@example.com",
		CustomerName:       "Ada Buyer",
		Amount:             amount,
		InvoiceID:          invoice,
		ClickID:            "clk_1",
		Route:              "shop.example.com/checkout",
		CapturedAt:         capturedAt,
	}
}

// obOpen opens an outbox in a fresh temp dir and closes it at cleanup.
func obOpen(t testing.TB, opts OutboxOptions) *Outbox {
	t.Helper()
	ob, err := OpenOutbox(filepath.Join(t.TempDir(), "outbox", "sales.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		obCheckIndex(t, ob)
		ob.Close()
	})
	return ob
}

// obCheckIndex asserts the outbox invariant: each queued record has
// exactly one due-index entry, at its NextAttempt, and there is no other.
func obCheckIndex(t testing.TB, ob *Outbox) {
	t.Helper()
	err := ob.view("check index", func(tx *bolt.Tx) error {
		want := map[string]bool{}
		err := tx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
			rec, _, err := getRecord(tx, binary.BigEndian.Uint64(k))
			if err == nil {
				want[string(dueKey(rec.NextAttempt, binary.BigEndian.Uint64(k)))] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		got := map[string]bool{}
		_ = tx.Bucket(bucketDue).ForEach(func(k, _ []byte) error { got[string(k)] = true; return nil })
		for k := range want {
			if !got[k] {
				t.Errorf("record %x has no due entry", k[8:])
			}
		}
		for k := range got {
			if !want[k] {
				t.Errorf("due entry %x has no matching record", k)
			}
		}
		if n := int64(len(want)); n != ob.queued.Load() {
			t.Errorf("queued counter %d, records %d", ob.queued.Load(), n)
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		t.Error(err)
	}
}

// obQueued reads every queued record, in enqueue order.
func obQueued(t testing.TB, ob *Outbox) []record {
	t.Helper()
	var recs []record
	err := ob.view("test read", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
			rec, _, err := getRecord(tx, binary.BigEndian.Uint64(k))
			recs = append(recs, rec)
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// obInvoices decodes the invoice ids of records.
func obInvoices(t testing.TB, recs []record) []string {
	t.Helper()
	var out []string
	for _, r := range recs {
		ev, err := sale.DecodeRecord(r.Event)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev.InvoiceID)
	}
	return out
}

func obDedupKeys(t testing.TB, ob *Outbox) []string {
	t.Helper()
	var keys []string
	err := ob.view("test dedup keys", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDedup).ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
