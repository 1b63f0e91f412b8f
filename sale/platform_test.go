package sale

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bojanz/currency"
)

func amountOf(t testing.TB, n, code string) currency.Amount {
	t.Helper()
	a, err := currency.NewAmount(n, code)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustPlatform(t testing.TB, name string) *Platform {
	t.Helper()
	p, err := LookupPlatform(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var saleTime = time.Date(2026, 4, 10, 12, 45, 10, 120_000_000, time.UTC)

// capturedSale is a sale as the capture leaves it, in EUR 199.00, with
// every field; the event name is empty so each profile's default shows.
func capturedSale(t testing.TB) *Event {
	return &Event{
		ID: EventID("inv_987"), Timestamp: saleTime, CustomerExternalID: "user_123",
		CustomerEmail: "alex@example.com", CustomerName: "Alex Johnson",
		Amount: amountOf(t, "199.00", "EUR"), InvoiceID: "inv_987", ClickID: "cl_42",
		PaymentProcessor: "stripe", CapturedAt: saleTime,
		USD: &USDValue{Amount: amountOf(t, "216.78", "USD"), Rate: "1.0894", Date: "2026-04-09"},
	}
}

// capturedLead is a sign-up with a click.
func capturedLead() *Event {
	return &Event{
		ID: "lead_1", Kind: KindLead, Timestamp: saleTime, CustomerExternalID: "user_123",
		CustomerEmail: "alex@example.com", CustomerName: "Alex Johnson", ClickID: "cl_42", CapturedAt: saleTime,
	}
}

// The same captured events become each profile's exact body.
func TestPlatformPayloadGolden(t *testing.T) {
	with := func(ev *Event, change func(*Event)) *Event {
		change(ev)
		return ev
	}
	tests := []struct {
		name    string
		ev      *Event
		sendUSD bool
		want    map[string]string // platform → body
	}{
		{
			name: "full sale, EUR",
			ev:   capturedSale(t),
			want: map[string]string{
				"cutmeshort": `{"amount":199.0,"clickId":"cl_42","currency":"EUR","customerEmail":"alex@example.com","customerExternalId":"user_123","customerName":"Alex Johnson","eventName":"sale","invoiceId":"inv_987","timestamp":"2026-04-10T12:45:10.120Z"}`,
				"dub":        `{"customerExternalId":"user_123","amount":19900,"currency":"eur","eventName":"Purchase","paymentProcessor":"stripe","invoiceId":"inv_987","clickId":"cl_42"}`,
				"generic":    `{"event":"sale","timestamp":"2026-04-10T12:45:10.120Z","customerExternalId":"user_123","email":"alex@example.com","name":"Alex Johnson","currency":"EUR","amount":199.0,"invoiceId":"inv_987","clickId":"cl_42"}`,
			},
		},
		{
			name:    "full sale sent in USD",
			ev:      capturedSale(t),
			sendUSD: true,
			want: map[string]string{
				"cutmeshort": `{"amount":216.78,"clickId":"cl_42","currency":"USD","customerEmail":"alex@example.com","customerExternalId":"user_123","customerName":"Alex Johnson","eventName":"sale","invoiceId":"inv_987","timestamp":"2026-04-10T12:45:10.120Z"}`,
				"dub":        `{"customerExternalId":"user_123","amount":21678,"currency":"usd","eventName":"Purchase","paymentProcessor":"stripe","invoiceId":"inv_987","clickId":"cl_42"}`,
				"generic":    `{"event":"sale","timestamp":"2026-04-10T12:45:10.120Z","customerExternalId":"user_123","email":"alex@example.com","name":"Alex Johnson","currency":"USD","amount":216.78,"invoiceId":"inv_987","clickId":"cl_42"}`,
			},
		},
		{
			name: "tax-exclusive Medusa total rounded half away from zero",
			ev:   with(capturedSale(t), func(e *Event) { e.Amount = amountOf(t, "124.8667", "EUR") }),
			want: map[string]string{
				"cutmeshort": `{"amount":124.87,"clickId":"cl_42","currency":"EUR","customerEmail":"alex@example.com","customerExternalId":"user_123","customerName":"Alex Johnson","eventName":"sale","invoiceId":"inv_987","timestamp":"2026-04-10T12:45:10.120Z"}`,
				"dub":        `{"customerExternalId":"user_123","amount":12487,"currency":"eur","eventName":"Purchase","paymentProcessor":"stripe","invoiceId":"inv_987","clickId":"cl_42"}`,
				"generic":    `{"event":"sale","timestamp":"2026-04-10T12:45:10.120Z","customerExternalId":"user_123","email":"alex@example.com","name":"Alex Johnson","currency":"EUR","amount":124.87,"invoiceId":"inv_987","clickId":"cl_42"}`,
			},
		},
		{
			name: "zero-decimal currency, optional fields missing, unknown processor",
			ev: &Event{ID: "x", EventName: "checkout_completed", Timestamp: saleTime, CustomerExternalID: "u_1",
				Amount: amountOf(t, "1999", "JPY"), InvoiceID: "ord_1", PaymentProcessor: "lemonsqueezy"},
			want: map[string]string{
				"cutmeshort": `{"amount":1999,"currency":"JPY","customerExternalId":"u_1","eventName":"checkout_completed","invoiceId":"ord_1","timestamp":"2026-04-10T12:45:10.120Z"}`,
				"dub":        `{"customerExternalId":"u_1","amount":1999,"currency":"jpy","eventName":"checkout_completed","paymentProcessor":"custom","invoiceId":"ord_1"}`,
				"generic":    `{"event":"checkout_completed","timestamp":"2026-04-10T12:45:10.120Z","customerExternalId":"u_1","currency":"JPY","amount":1999,"invoiceId":"ord_1"}`,
			},
		},
		{
			name: "three-decimal currency: Dub takes hundredths",
			ev: &Event{ID: "x", Timestamp: saleTime, CustomerExternalID: "u_1",
				Amount: amountOf(t, "1.250", "KWD"), ClickID: "cl_42"},
			want: map[string]string{
				"cutmeshort": `{"amount":1.25,"clickId":"cl_42","currency":"KWD","customerExternalId":"u_1","eventName":"sale","timestamp":"2026-04-10T12:45:10.120Z"}`,
				"dub":        `{"customerExternalId":"u_1","amount":125,"currency":"kwd","eventName":"Purchase","paymentProcessor":"custom","clickId":"cl_42"}`,
				"generic":    `{"event":"sale","timestamp":"2026-04-10T12:45:10.120Z","customerExternalId":"u_1","currency":"KWD","amount":1.25,"clickId":"cl_42"}`,
			},
		},
		{
			name: "three-decimal amount with a fourth decimal: rounded once, to the coarser unit",
			ev:   &Event{ID: "x", Timestamp: saleTime, CustomerExternalID: "u_1", Amount: amountOf(t, "1.2345", "KWD")},
			want: map[string]string{
				"cutmeshort": `{"amount":1.235,"currency":"KWD","customerExternalId":"u_1","eventName":"sale","timestamp":"2026-04-10T12:45:10.120Z"}`,
				"dub":        `{"customerExternalId":"u_1","amount":123,"currency":"kwd","eventName":"Purchase","paymentProcessor":"custom"}`,
				"generic":    `{"event":"sale","timestamp":"2026-04-10T12:45:10.120Z","customerExternalId":"u_1","currency":"KWD","amount":1.235}`,
			},
		},
		{
			name: "lead with a click",
			ev:   capturedLead(),
			want: map[string]string{
				"cutmeshort": `{"clickId":"cl_42","customerEmail":"alex@example.com","customerExternalId":"user_123","customerName":"Alex Johnson","eventName":"sign_up","timestamp":"2026-04-10T12:45:10.120Z"}`,
				"dub":        `{"clickId":"cl_42","eventName":"Sign up","customerExternalId":"user_123","customerName":"Alex Johnson","customerEmail":"alex@example.com"}`,
				"generic":    `{"event":"lead","timestamp":"2026-04-10T12:45:10.120Z","customerExternalId":"user_123","email":"alex@example.com","name":"Alex Johnson","clickId":"cl_42"}`,
			},
		},
		{
			name: "deferred lead, first event",
			ev:   with(capturedLead(), func(e *Event) { e.Mode = ModeDeferred }),
			want: map[string]string{
				"cutmeshort": `{"clickId":"cl_42","customerEmail":"alex@example.com","customerExternalId":"user_123","customerName":"Alex Johnson","eventName":"sign_up","mode":"deferred","timestamp":"2026-04-10T12:45:10.120Z"}`,
				"dub":        `{"clickId":"cl_42","eventName":"Sign up","customerExternalId":"user_123","customerName":"Alex Johnson","customerEmail":"alex@example.com","mode":"deferred"}`,
				"generic":    `{"event":"lead","timestamp":"2026-04-10T12:45:10.120Z","customerExternalId":"user_123","email":"alex@example.com","name":"Alex Johnson","clickId":"cl_42","mode":"deferred"}`,
			},
		},
		{
			name: "deferred lead, follow-up without a click",
			ev: &Event{ID: "x", Kind: KindLead, EventName: "email_verified", Timestamp: saleTime,
				CustomerExternalID: "user_123"},
			want: map[string]string{
				"cutmeshort": `{"customerExternalId":"user_123","eventName":"email_verified","timestamp":"2026-04-10T12:45:10.120Z"}`,
				"dub":        `{"clickId":"","eventName":"email_verified","customerExternalId":"user_123"}`,
				"generic":    `{"event":"email_verified","timestamp":"2026-04-10T12:45:10.120Z","customerExternalId":"user_123"}`,
			},
		},
	}
	for _, tt := range tests {
		for _, name := range PlatformNames() {
			before, _ := tt.ev.AppendRecord(nil)
			got := string(mustPlatform(t, name).Payload(tt.ev, tt.sendUSD))
			if got != tt.want[name] {
				t.Errorf("%s, %s:\n got %s\nwant %s", tt.name, name, got, tt.want[name])
			}
			if after, _ := tt.ev.AppendRecord(nil); !bytes.Equal(before, after) {
				t.Errorf("%s, %s: writing the payload changed the event", tt.name, name)
			}
		}
	}
}

// The generic profile's sale is Event.Payload's body, byte for byte,
// whenever the amount has no more decimals than its currency.
func TestGenericSaleIsTodaysPayload(t *testing.T) {
	p := mustPlatform(t, "generic")
	for _, ev := range recordTestEvents(t) {
		if ev.Amount.CurrencyCode() == "" || ev.EventName == "" || ev.IsLead() {
			continue // no currency: no amount to write; no name: the profile's default stands in
		}
		for _, usd := range []bool{false, true} {
			if got, want := p.Payload(ev, usd), ev.Payload(usd); !bytes.Equal(got, want) {
				t.Errorf("sendUSD %v:\n got %s\nwant %s", usd, got, want)
			}
		}
	}
}

// Every profile writes valid JSON that reads back to the event's strings,
// whatever they hold.
func TestPlatformPayloadIsValidJSON(t *testing.T) {
	for _, name := range PlatformNames() {
		p := mustPlatform(t, name)
		for _, s := range trickyStrings {
			for _, kind := range []string{KindSale, KindLead} {
				ev := &Event{Kind: kind, EventName: s, Timestamp: saleTime, CustomerExternalID: s,
					CustomerEmail: s, CustomerName: s, Amount: amountOf(t, "0.5", "KWD"), InvoiceID: s, ClickID: s, Mode: s}
				body := p.Payload(ev, false)
				var m map[string]any
				if err := json.Unmarshal(body, &m); err != nil {
					t.Fatalf("%s %s %q: %v\n%s", name, kind, s, err, body)
				}
				var want string // s as JSON carries it: each invalid byte a U+FFFD
				quoted, _ := json.Marshal(s)
				_ = json.Unmarshal(quoted, &want)
				for _, key := range []string{"customerExternalId", "eventName", "event"} {
					if v, ok := m[key]; ok && v != want && !(s == "" && v == p.EventName(ev)) {
						t.Errorf("%s %s: %s is %q, want %q", name, kind, key, v, want)
					}
				}
			}
		}
	}
}

func TestLookupPlatform(t *testing.T) {
	if got := PlatformNames(); strings.Join(got, " ") != "cutmeshort dub generic" {
		t.Fatalf("names %v", got)
	}
	tests := []struct {
		name                                string
		base, param, cookie, saleEv, leadEv string
	}{
		{"cutmeshort", "https://api.cme.sh", "cms_rf", "cms_rf", "sale", "sign_up"},
		{"dub", "https://api.dub.co", "dub_id", "dub_id", "Purchase", "Sign up"},
		{"generic", "", "clickId", "clickId", "sale", "lead"},
	}
	for _, tt := range tests {
		p := mustPlatform(t, tt.name)
		if p.Name != tt.name || p.APIBase != tt.base || p.ClickParam != tt.param || p.ClickCookie != tt.cookie ||
			p.SaleEvent != tt.saleEv || p.LeadEvent != tt.leadEv || p.SalePath != "/track/sale" || p.LeadPath != "/track/lead" {
			t.Errorf("%s: %+v", tt.name, *p)
		}
	}
	if p := mustPlatform(t, ""); p.Name != DefaultPlatform || DefaultPlatform != "cutmeshort" {
		t.Errorf("the default is %q", p.Name)
	}
	// A copy: changing one changes no one else's.
	mustPlatform(t, "dub").ClickCookie = "mine"
	if p := mustPlatform(t, "dub"); p.ClickCookie != "dub_id" {
		t.Errorf("a lookup sees another's change: %q", p.ClickCookie)
	}
	for _, bad := range []string{"CutMeShort", "dub.co", "impact", " generic"} {
		_, err := LookupPlatform(bad)
		if err == nil || !strings.Contains(err.Error(), "cutmeshort, dub, generic") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// CutMeShort gets now in place of a timestamp it would refuse; the event
// keeps its own, and the other profiles send it as it is.
func TestWireTimestamp(t *testing.T) {
	now := time.Date(2026, 4, 12, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		age        time.Duration // before now; negative is ahead
		cutMeShort time.Time     // zero: the event's own
	}{
		{age: time.Hour},
		{age: 23*time.Hour + 54*time.Minute},
		{age: 23*time.Hour + 56*time.Minute, cutMeShort: now}, // inside the margin of the 24 hours
		{age: 72 * time.Hour, cutMeShort: now},                // after an outage of three days
		{age: -time.Second, cutMeShort: now},
		{age: 0},
	}
	for _, tt := range tests {
		ev := &Event{Timestamp: now.Add(-tt.age)}
		for _, name := range PlatformNames() {
			want := ev.Timestamp
			if name == "cutmeshort" && !tt.cutMeShort.IsZero() {
				want = tt.cutMeShort
			}
			if got := mustPlatform(t, name).WireTimestamp(ev, now); !got.Equal(want) {
				t.Errorf("%s, %v old: got %v, want %v", name, tt.age, got, want)
			}
			if !ev.Timestamp.Equal(now.Add(-tt.age)) {
				t.Fatal("WireTimestamp changed the event")
			}
		}
	}

	// The body sent after a long outage carries the send time; the event,
	// its record and its file line keep the capture's.
	ev := capturedLead()
	p := mustPlatform(t, "cutmeshort")
	later := saleTime.Add(50 * time.Hour)
	if got := string(p.WirePayload(ev, false, later)); !strings.Contains(got, `"timestamp":"2026-04-12T14:45:10.120Z"`) {
		t.Errorf("wire body %s", got)
	}
	if got := string(p.Payload(ev, false)); !strings.Contains(got, `"timestamp":"2026-04-10T12:45:10.120Z"`) || !ev.Timestamp.Equal(saleTime) {
		t.Errorf("the event's own time is lost: %s", got)
	}
	if got, want := mustPlatform(t, "generic").WirePayload(ev, false, later), mustPlatform(t, "generic").Payload(ev, false); !bytes.Equal(got, want) {
		t.Errorf("generic moves the time: %s", got)
	}
}

// A record written before leads existed reads back as a sale, and a sale's
// record is still written as it always was.
func TestOldRecordIsASale(t *testing.T) {
	old := `{"id":"sale_3d1b1b5b8d3b5c0f2d6f1e0a9b8c7d6e","event":"sale","timestamp":"2026-04-10T14:45:10.12+02:00","customerExternalId":"user_123","email":"alex@example.com","amount":{"number":"199.00","currency":"EUR"},"invoiceId":"inv_1","clickId":"cl_42","route":"shop.example/checkout","capturedAt":"2026-04-10T12:45:10.123456789Z"}`
	ev, err := DecodeRecord([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if ev.IsLead() || ev.Kind != "" || ev.Mode != "" || ev.PaymentProcessor != "" {
		t.Fatalf("old record read as %+v", ev)
	}
	if again, _ := ev.AppendRecord(nil); string(again) != old {
		t.Errorf("a sale's record changed:\n got %s\nwant %s", again, old)
	}
	for _, name := range PlatformNames() {
		p := mustPlatform(t, name)
		if err := p.Check(ev, saleTime); err != nil {
			t.Errorf("%s refuses an old sale: %v", name, err)
		}
		if body := string(p.Payload(ev, false)); !strings.Contains(body, `"amount":`) {
			t.Errorf("%s does not send an old record as a sale: %s", name, body)
		}
	}
}
