package delivery

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/bojanz/currency"

	"github.com/saletrack/caddy-saletrack/sale"
)

func recordEvent(t testing.TB) *sale.Event {
	t.Helper()
	amount, err := currency.NewAmount("199.00", "EUR")
	if err != nil {
		t.Fatal(err)
	}
	usd, err := currency.NewAmount("216.78", "USD")
	if err != nil {
		t.Fatal(err)
	}
	return &sale.Event{
		ID: sale.EventID("inv_1"), EventName: "sale", Timestamp: time.Date(2026, 4, 10, 14, 45, 10, 120000000, time.FixedZone("CEST", 2*3600)),
		CustomerExternalID: "user_123", CustomerEmail: "alex@example.com", CustomerName: "Alex <Johnson> \xff",
		Amount: amount, InvoiceID: "inv_1", ClickID: "cl_42", Route: "shop.example/checkout",
		CapturedAt: time.Date(2026, 4, 10, 12, 45, 10, 123456789, time.UTC),
		USD:        &sale.USDValue{Amount: usd, Rate: "1.0894", Date: "2026-04-09"},
	}
}

// A new outbox record is byte for byte the one json.Marshal writes for
// the record struct that later reads it.
func TestNewRecordMatchesEncodingJSON(t *testing.T) {
	now := time.Date(2026, 4, 10, 12, 45, 11, 5, time.UTC)
	since := time.Date(2026, 4, 10, 12, 45, 10, 0, time.Local)
	ev := recordEvent(t)
	event, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(record{Event: event, NextAttempt: now, Since: since, EnqueuedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	got, err := appendNewRecord(nil, ev, now, since)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("outbox record:\n got %s (%v)\nwant %s", got, err, want)
	}
}

// BenchmarkNewRecord: the outbox record a captured sale writes, encoded
// without reflection.
func BenchmarkNewRecord(b *testing.B) {
	ev := recordEvent(b)
	now := time.Now()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := appendNewRecord(make([]byte, 0, 640), ev, now, now); err != nil {
			b.Fatal(err)
		}
	}
}
