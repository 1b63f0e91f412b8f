package sale

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bojanz/currency"
)

// trickyStrings are the strings encoding/json escapes in some way.
var trickyStrings = []string{
	"", "plain", `quote " and back\slash`, "<script>&amp;</script>",
	"tab\t nl\n cr\r bs\b ff\f nul\x00 esc\x1b del\x7f",
	"invalid \xff utf8 \xc3", "truncated \xe2\x82", "line\u2028para\u2029",
	"Zoë Ærø 日本語 🛒", strings.Repeat("é", 300),
}

func recordTestEvents(t *testing.T) []*Event {
	t.Helper()
	amount := func(n, code string) currency.Amount {
		a, err := currency.NewAmount(n, code)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	berlin := time.FixedZone("CEST", 2*3600)
	full := &Event{
		ID: EventID("inv_1"), EventName: "sale", Timestamp: time.Date(2026, 4, 10, 14, 45, 10, 120000000, berlin),
		CustomerExternalID: "user_123", CustomerEmail: "alex@example.com", CustomerName: "Alex <Johnson>",
		Amount: amount("199.00", "EUR"), InvoiceID: "inv_1", ClickID: "cl_42", Route: "shop.example/checkout",
		CapturedAt: time.Date(2026, 4, 10, 12, 45, 10, 123456789, time.UTC),
		USD:        &USDValue{Amount: amount("216.78", "USD"), Rate: "1.0894", Date: "2026-04-09"},
		Origin:     &Origin{CustomerExternalID: OriginPayload, ClickID: OriginBinding},
	}
	minimal := &Event{ID: EventID(""), EventName: "sale", CustomerExternalID: "u", Amount: amount("1999", "JPY")}
	zero := &Event{}
	usdOnly := &Event{ID: "x", EventName: "sale", CustomerExternalID: "u", Amount: amount("5", "USD"), USD: &USDValue{Amount: amount("5", "USD")}}
	paid := *full
	paid.Kind, paid.PaymentProcessor = KindSale, "stripe"
	lead := &Event{ID: "lead_1", Kind: KindLead, Mode: ModeDeferred, EventName: "sign_up", Timestamp: full.Timestamp,
		CustomerExternalID: "user_123", CustomerEmail: "alex@example.com", ClickID: "cl_42", Route: "shop.example/signup", CapturedAt: full.CapturedAt}
	clickOnly := *full
	clickOnly.Origin = &Origin{ClickID: OriginPlaceholder}
	noOrigin := *full
	noOrigin.Origin = &Origin{}
	events := []*Event{full, minimal, zero, usdOnly, &paid, lead, &clickOnly, &noOrigin}
	for _, s := range trickyStrings {
		events = append(events, &Event{ID: s, EventName: s, CustomerExternalID: s, CustomerEmail: s, CustomerName: s,
			Amount: amount("0.5", "KWD"), InvoiceID: s, ClickID: s, Kind: s, Mode: s, PaymentProcessor: s, Route: s,
			Timestamp: full.Timestamp, CapturedAt: full.CapturedAt, USD: &USDValue{Amount: amount("1.63", "USD"), Rate: s, Date: s}})
	}
	return events
}

// A record written here is byte for byte the one json.Marshal writes.
func TestRecordMatchesEncodingJSON(t *testing.T) {
	for _, ev := range recordTestEvents(t) {
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ev.AppendRecord(nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("event record:\n got %s (%v)\nwant %s", got, err, want)
			continue
		}
		back, err := DecodeRecord(got)
		if err != nil {
			if ev.Amount.CurrencyCode() == "" {
				continue // the zero event: no currency, so no Amount to read back
			}
			t.Fatal(err)
		}
		// Read back, it is the same event again (invalid UTF-8 now U+FFFD).
		wantAgain, _ := json.Marshal(back)
		if again, _ := back.AppendRecord(nil); !bytes.Equal(again, wantAgain) {
			t.Errorf("read back and written again:\n got %s\nwant %s", again, wantAgain)
		}
	}
}

// A time encoding/json refuses is refused here too, not written.
func TestRecordRefusesTimesJSONCannotHold(t *testing.T) {
	for _, ts := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("odd", 30)),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 25*3600)),
	} {
		ev := &Event{ID: "x", EventName: "sale", CustomerExternalID: "u", Timestamp: ts}
		_, jsonErr := json.Marshal(ev)
		_, err := ev.AppendRecord(nil)
		if (jsonErr == nil) != (err == nil) {
			t.Errorf("%v: encoding/json says %v, AppendRecord says %v", ts, jsonErr, err)
		}
	}
}
