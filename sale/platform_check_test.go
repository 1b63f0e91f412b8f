package sale

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bojanz/currency"
)

func TestPlatformCheck(t *testing.T) {
	emoji := func(n int) string { return strings.Repeat("🛒", n) } // two UTF-16 units each
	sale := func(change func(*Event)) *Event {
		ev := &Event{Timestamp: saleTime, CustomerExternalID: "user_123", Amount: amountOf(t, "199.00", "EUR"),
			InvoiceID: "inv_1", ClickID: "cl_42"}
		change(ev)
		return ev
	}
	lead := func(change func(*Event)) *Event {
		ev := &Event{Kind: KindLead, Timestamp: saleTime, CustomerExternalID: "user_123", ClickID: "cl_42"}
		change(ev)
		return ev
	}
	same := func(*Event) {}
	tests := []struct {
		name     string
		platform string
		ev       *Event
		field    string // refused on this field; "" when sent
	}{
		{"cms sale", "cutmeshort", sale(same), ""},
		{"cms sale without a customer", "cutmeshort", sale(func(e *Event) { e.CustomerExternalID = "" }), "customerExternalId"},
		{"cms sale, customer of 255 characters", "cutmeshort", sale(func(e *Event) { e.CustomerExternalID = strings.Repeat("é", 255) }), ""},
		{"cms sale, customer of 256 UTF-16 units", "cutmeshort", sale(func(e *Event) { e.CustomerExternalID = emoji(128) }), "customerExternalId"},
		{"cms sale, invoice of 256 UTF-16 units", "cutmeshort", sale(func(e *Event) { e.InvoiceID = emoji(128) }), "invoiceId"},
		{"cms sale without a click (Sale Track page, cms-python)", "cutmeshort", sale(func(e *Event) { e.ClickID = "" }), ""},
		{"cms sale without an invoice (recommended only)", "cutmeshort", sale(func(e *Event) { e.InvoiceID = "" }), ""},
		{"cms sale, shop invoice id cms-go's unused validator refuses", "cutmeshort", sale(func(e *Event) { e.InvoiceID = "INV/2024/001" }), ""},
		{"cms sale named with a space (the reference's own example)", "cutmeshort", sale(func(e *Event) { e.EventName = "Sign up" }), ""},
		{"cms sale over 999,999,999.99", "cutmeshort", sale(func(e *Event) { e.Amount = amountOf(t, "25000000000", "IDR") }), ""},
		{"cms sale in a currency outside cms-go's list", "cutmeshort", sale(func(e *Event) { e.Amount = amountOf(t, "1.250", "KWD") }), ""},
		{"cms sale of zero", "cutmeshort", sale(func(e *Event) { e.Amount = amountOf(t, "0", "EUR") }), ""},
		{"cms sale, negative", "cutmeshort", sale(func(e *Event) { e.Amount = amountOf(t, "-5", "EUR") }), "amount"},
		{"cms sale, no currency", "cutmeshort", sale(func(e *Event) { e.Amount = currency.Amount{} }), "currency"},
		{"cms sale three days old", "cutmeshort", sale(func(e *Event) { e.Timestamp = saleTime.Add(-72 * time.Hour) }), ""},
		{"cms sale, a bad email is left out, not refused", "cutmeshort", sale(func(e *Event) { e.CustomerEmail = "not an email" }), ""},
		{"cms lead", "cutmeshort", lead(same), ""},
		{"cms deferred lead", "cutmeshort", lead(func(e *Event) { e.Mode = ModeDeferred }), ""},
		{"cms deferred follow-up without a click", "cutmeshort", lead(func(e *Event) { e.ClickID = "" }), ""},
		{"cms lead in Dub's wait mode", "cutmeshort", lead(func(e *Event) { e.Mode = "wait" }), "mode"},
		{"cms lead without a customer", "cutmeshort", lead(func(e *Event) { e.CustomerExternalID = "" }), "customerExternalId"},
		{"cms lead named 255 characters", "cutmeshort", lead(func(e *Event) { e.EventName = strings.Repeat("a", 255) }), ""},
		{"cms lead named 256 characters", "cutmeshort", lead(func(e *Event) { e.EventName = strings.Repeat("a", 256) }), "eventName"},

		{"dub sale", "dub", sale(same), ""},
		{"dub sale, customer of 100 characters", "dub", sale(func(e *Event) { e.CustomerExternalID = strings.Repeat("é", 100) }), ""},
		{"dub sale, customer of 101 characters", "dub", sale(func(e *Event) { e.CustomerExternalID = strings.Repeat("u", 101) }), "customerExternalId"},
		{"dub sale, customer of 51 emoji", "dub", sale(func(e *Event) { e.CustomerExternalID = emoji(51) }), "customerExternalId"},
		{"dub sale, customer only spaces", "dub", sale(func(e *Event) { e.CustomerExternalID = " \t\u3000\ufeff" }), "customerExternalId"},
		{"dub sale, customer U+0085, which JavaScript does not trim", "dub", sale(func(e *Event) { e.CustomerExternalID = "\u0085" }), ""},
		{"dub sale, 100 characters inside spaces", "dub", sale(func(e *Event) { e.CustomerExternalID = "  " + strings.Repeat("u", 100) + "  " }), ""},
		{"dub sale named 256 characters", "dub", sale(func(e *Event) { e.EventName = strings.Repeat("a", 256) }), "eventName"},
		{"dub sale without a click", "dub", sale(func(e *Event) { e.ClickID = "" }), ""},
		{"dub sale from a processor outside the enum", "dub", sale(func(e *Event) { e.PaymentProcessor = "lemonsqueezy" }), ""},
		{"dub sale, negative", "dub", sale(func(e *Event) { e.Amount = amountOf(t, "-0.01", "USD") }), "amount"},
		{"dub lead", "dub", lead(same), ""},
		{"dub deferred follow-up without a click", "dub", lead(func(e *Event) { e.ClickID = "" }), ""},
		{"dub lead in wait mode", "dub", lead(func(e *Event) { e.Mode = "wait" }), ""},
		{"dub lead in an unknown mode", "dub", lead(func(e *Event) { e.Mode = "later" }), "mode"},
		{"dub lead named only spaces", "dub", lead(func(e *Event) { e.EventName = "  " }), "eventName"},
		{"dub lead, customer of 101 characters", "dub", lead(func(e *Event) { e.CustomerExternalID = strings.Repeat("u", 101) }), "customerExternalId"},
		{"dub lead, a long name is left out, not refused", "dub", lead(func(e *Event) { e.CustomerName = strings.Repeat("n", 101) }), ""},

		{"generic refuses nothing of the platforms'", "generic", sale(func(e *Event) {
			e.CustomerExternalID, e.ClickID, e.Amount = "", "", amountOf(t, "-5", "EUR")
		}), ""},
		{"generic lead in any mode", "generic", lead(func(e *Event) { e.Mode = "later" }), ""},
		{"an unknown kind is refused everywhere", "generic", sale(func(e *Event) { e.Kind = "refund" }), "kind"},
		{"an unknown kind (cutmeshort)", "cutmeshort", sale(func(e *Event) { e.Kind = "Lead" }), "kind"},
		{"an explicit sale kind", "dub", sale(func(e *Event) { e.Kind = KindSale }), ""},
	}
	for _, tt := range tests {
		err := mustPlatform(t, tt.platform).Check(tt.ev, saleTime)
		var refused *RefusedError
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: refused: %v", tt.name, err)
		case tt.field != "" && !errors.As(err, &refused):
			t.Errorf("%s: got %v, want a refusal of %s", tt.name, err, tt.field)
		case tt.field != "" && (refused.Field != tt.field || refused.Platform != tt.platform):
			t.Errorf("%s: refused %s on %s (%v), want %s", tt.name, refused.Platform, refused.Field, err, tt.field)
		}
	}
}

// A refusal says what and why, never the value, which may be personal.
func TestRefusalNamesTheRuleNotTheValue(t *testing.T) {
	ev := &Event{Timestamp: saleTime, CustomerExternalID: "alex@example.com" + strings.Repeat("x", 100), Amount: amountOf(t, "5", "EUR")}
	err := mustPlatform(t, "dub").Check(ev, saleTime)
	if err == nil {
		t.Fatal("not refused")
	}
	msg := err.Error()
	if strings.Contains(msg, "alex@") || !strings.Contains(msg, "116 characters") || !strings.Contains(msg, "Dub (track/sale schema) takes 1 to 100") {
		t.Errorf("reason %q", msg)
	}
}

// An optional field the platform would refuse is left out of the body, so
// it never costs the event; the generic receiver gets it as captured.
func TestOptionalFieldsThePlatformRefusesAreLeftOut(t *testing.T) {
	ev := capturedLead()
	ev.CustomerEmail = "alex@example"          // no top-level domain: zod refuses it
	ev.CustomerName = strings.Repeat("N", 101) // over Dub's 100, within CutMeShort's 255
	tests := map[string]struct{ email, name bool }{
		"cutmeshort": {email: false, name: true},
		"dub":        {email: false, name: false},
		"generic":    {email: true, name: true},
	}
	for platform, want := range tests {
		body := string(mustPlatform(t, platform).Payload(ev, false))
		if got := strings.Contains(body, "alex@example"); got != want.email {
			t.Errorf("%s: email sent %v, want %v: %s", platform, got, want.email, body)
		}
		if got := strings.Contains(body, ev.CustomerName); got != want.name {
			t.Errorf("%s: name sent %v, want %v: %s", platform, got, want.name, body)
		}
	}
}
