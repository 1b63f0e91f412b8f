package sale

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/fx"
)

func mustSources(t testing.TB, list ...string) []Source {
	t.Helper()
	out, err := ParseSources(list)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func orderSpec(t testing.TB) *Spec {
	s, err := BuildSpec(SpecConfig{Fields: map[Field][]string{
		FieldAmount:     {"order.total"},
		FieldCurrency:   {"order.currency"},
		FieldInvoiceID:  {"order.id"},
		FieldCustomerID: {"customer.id", "{http.request.header.X-Customer}"},
		FieldEmail:      {"customer.email"},
		FieldName:       {"[customer.first,customer.last]"},
		FieldClickID:    {"{http.request.cookie.clickId}"},
		FieldTimestamp:  {"order.created_at"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var captureTime = time.Date(2026, 4, 10, 12, 45, 10, 123456789, time.UTC)

func resolver(values map[string]string) Resolver {
	return func(p string) string { return values[p] }
}

func TestExtractPayload(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		vars    map[string]string
		unit    fx.Unit
		want    string
		wantErr string
	}{
		{
			name: "full order",
			body: `{"order":{"id":"inv_987","total":199.0,"currency":"usd","created_at":"2026-04-10T14:45:10+02:00"},"customer":{"id":"user_123","email":"alex@example.com","first":"Alex","last":"Johnson"}}`,
			vars: map[string]string{"{http.request.cookie.clickId}": "cl_42"},
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.000Z","customerExternalId":"user_123","email":"alex@example.com","name":"Alex Johnson","currency":"USD","amount":199.0,"invoiceId":"inv_987","clickId":"cl_42"}`,
		},
		{
			name: "string amount, default currency, capture time, optional fields omitted",
			body: `{"order":{"id":"A-1","total":"12.45"},"customer":{"id":"u1"}}`,
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.123Z","customerExternalId":"u1","currency":"USD","amount":12.45,"invoiceId":"A-1"}`,
		},
		{
			name: "id beyond 2^53 keeps every digit",
			body: `{"order":{"id":820982911946154508,"total":5},"customer":{"id":9007199254740993}}`,
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.123Z","customerExternalId":"9007199254740993","currency":"USD","amount":5.0,"invoiceId":"820982911946154508"}`,
		},
		{
			name: "JPY minor units have no digits",
			body: `{"order":{"id":"j","total":1999,"currency":"JPY"},"customer":{"id":"u"}}`,
			unit: fx.Minor,
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.123Z","customerExternalId":"u","currency":"JPY","amount":1999,"invoiceId":"j"}`,
		},
		{
			name: "KWD minor units have three digits",
			body: `{"order":{"id":"k","total":12345,"currency":"kwd"},"customer":{"id":"u"}}`,
			unit: fx.Minor,
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.123Z","customerExternalId":"u","currency":"KWD","amount":12.345,"invoiceId":"k"}`,
		},
		{
			name: "USD minor units",
			body: `{"order":{"id":"m","total":"19950"},"customer":{"id":"u"}}`,
			unit: fx.Minor,
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.123Z","customerExternalId":"u","currency":"USD","amount":199.5,"invoiceId":"m"}`,
		},
		{
			name: "customer id from a header when the body has none",
			body: `{"order":{"id":"h","total":1,"created_at":1775825110},"customer":{}}`,
			vars: map[string]string{"{http.request.header.X-Customer}": "hdr-7"},
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.000Z","customerExternalId":"hdr-7","currency":"USD","amount":1.0,"invoiceId":"h"}`,
		},
		{
			name: "unix milliseconds",
			body: `{"order":{"id":"ms","total":0,"created_at":1775825110250},"customer":{"id":"u"}}`,
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.250Z","customerExternalId":"u","currency":"USD","amount":0.0,"invoiceId":"ms"}`,
		},
		{name: "malformed JSON", body: `{"order":`, wantErr: "body is not valid JSON"},
		{name: "no customer id is never guessed", body: `{"order":{"id":"x","total":1},"customer":{}}`, wantErr: "customer_id: no source yielded a value"},
		{name: "no amount", body: `{"order":{"id":"x"},"customer":{"id":"u"}}`, wantErr: "amount: no source yielded a value (path order.total)"},
		{name: "comma decimal", body: `{"order":{"id":"x","total":"12,00"},"customer":{"id":"u"}}`, wantErr: `amount: "12,00" is not a number (path order.total)`},
		{name: "negative amount", body: `{"order":{"id":"x","total":-5},"customer":{"id":"u"}}`, wantErr: "amount: -5 is negative"},
		{name: "bad currency", body: `{"order":{"id":"x","total":5,"currency":"XYZ1"},"customer":{"id":"u"}}`, wantErr: `currency: "XYZ1" is not an ISO 4217 currency code (path order.currency)`},
		{name: "fractional minor units", body: `{"order":{"id":"x","total":10.5},"customer":{"id":"u"}}`, unit: fx.Minor, wantErr: "not a whole number of minor units"},
		// A timestamp is recommended, not required: one that cannot be
		// used never costs the sale; the capture time stands in.
		{name: "unreadable timestamp", body: `{"order":{"id":"x","total":5,"created_at":"yesterday"},"customer":{"id":"u"}}`,
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.123Z","customerExternalId":"u","currency":"USD","amount":5.0,"invoiceId":"x"}`},
		{name: "a boolean is no id", body: `{"order":{"id":true,"total":5},"customer":{"id":false},"x":1}`, vars: map[string]string{"{http.request.header.X-Customer}": "hdr-1"},
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.123Z","customerExternalId":"hdr-1","currency":"USD","amount":5.0}`},
		{name: "a byte-order mark is ignored", body: "\ufeff" + `{"order":{"id":"bom","total":5},"customer":{"id":"u"}}`,
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.123Z","customerExternalId":"u","currency":"USD","amount":5.0,"invoiceId":"bom"}`},
		{name: "nesting past the bound", body: `{"order":{"id":"x","total":5},"customer":{"id":"u"},"deep":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `}`,
			wantErr: "nests deeper than 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := orderSpec(t)
			spec.AmountUnit = tt.unit
			ev, err := spec.Extract([]byte(tt.body), resolver(tt.vars), captureTime)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(ev.Payload(false)); got != tt.want {
				t.Fatalf("payload\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestExtractRejectCarriesInvoice(t *testing.T) {
	_, err := orderSpec(t).Extract([]byte(`{"order":{"id":"inv_1","total":"abc"},"customer":{"id":"u"}}`), nil, captureTime)
	var rej *RejectError
	if !errors.As(err, &rej) || rej.InvoiceID != "inv_1" || rej.Field != "amount" {
		t.Fatalf("got %#v", err)
	}
}

func TestExtractCapsLongStrings(t *testing.T) {
	long := strings.Repeat("é", 300)
	ev, err := orderSpec(t).Extract([]byte(`{"order":{"id":"x","total":1},"customer":{"id":"`+long+`"}}`), nil, captureTime)
	if err != nil {
		t.Fatal(err)
	}
	if got := len([]rune(ev.CustomerExternalID)); got != MaxFieldLength {
		t.Fatalf("customer id has %d characters, want %d", got, MaxFieldLength)
	}
}

func TestAmountDigitsFromPayload(t *testing.T) {
	spec := orderSpec(t)
	spec.AmountUnit = fx.Minor
	spec.Sources[FieldAmountDigits] = mustSources(t, "currency_minor_unit")
	ev, err := spec.Extract([]byte(`{"currency_minor_unit":0,"order":{"id":"x","total":"4500","currency":"EUR"},"customer":{"id":"u"}}`), nil, captureTime)
	if err != nil {
		t.Fatal(err)
	}
	if got := fx.JSONNumber(ev.Amount); got != "4500.0" {
		t.Fatalf("amount = %s, want 4500.0 (the payload said 0 digits)", got)
	}
}

func TestConditions(t *testing.T) {
	body := `{"status":"paid","paid":true,"zero":0,"empty":"","nil":null,"n":3,"obj":{},"arr":[1]}`
	tests := []struct {
		cond Condition
		want bool
	}{
		{Condition{Path: "paid"}, true},
		{Condition{Path: "n"}, true},
		{Condition{Path: "arr"}, true},
		{Condition{Path: "zero"}, false},
		{Condition{Path: "empty"}, false},
		{Condition{Path: "nil"}, false},
		{Condition{Path: "obj"}, false},
		{Condition{Path: "missing"}, false},
		{Condition{Path: "status", Values: []string{"pending", "paid"}}, true},
		{Condition{Path: "status", Values: []string{"pending"}}, false},
		{Condition{Path: "paid", Values: []string{"true"}}, true},
		{Condition{Path: "missing", Values: []string{""}}, false},
	}
	for _, tt := range tests {
		spec := &Spec{When: []Condition{tt.cond}}
		ok, _ := spec.conditionsHold([]byte(body))
		if ok != tt.want {
			t.Errorf("%s: holds = %v, want %v", tt.cond, ok, tt.want)
		}
	}
	spec := orderSpec(t)
	spec.When = []Condition{{Path: "order.status", Values: []string{"paid"}}}
	_, err := spec.Extract([]byte(`{"order":{"status":"pending","id":"x","total":1},"customer":{"id":"u"}}`), nil, captureTime)
	var notSale *NotSaleError
	if !errors.As(err, &notSale) || notSale.Condition != "order.status paid" {
		t.Fatalf("got %v, want a NotSaleError naming the condition", err)
	}
}

// Conditions are read before the body is validated, so a malformed body
// is never a sale either way: whether its condition holds or not.
func TestMalformedBodyIsNeverASale(t *testing.T) {
	spec := orderSpec(t)
	spec.When = []Condition{{Path: "order.status", Values: []string{"paid"}}}
	tests := []struct {
		name, body string
		want       func(error) bool
	}{
		{"condition met, then broken", `{"order":{"status":"paid","id":"x","total":1},"customer":{"id":"u"`,
			func(err error) bool { return errors.Is(err, ErrMalformed) }},
		{"condition met, broken before a field", `{"order":{"status":"paid","id":"x","total":},"customer":{"id":"u"}}`,
			func(err error) bool { return errors.Is(err, ErrMalformed) }},
		{"condition not met", `{"order":{"status":"pending","id":"x","total":1},"customer":{"id":`,
			func(err error) bool { var ns *NotSaleError; return errors.As(err, &ns) }},
		{"not JSON at all", `<html>paid</html>`,
			func(err error) bool { var ns *NotSaleError; return errors.As(err, &ns) }},
	}
	for _, tt := range tests {
		ev, err := spec.Extract([]byte(tt.body), nil, captureTime)
		if ev != nil || !tt.want(err) {
			t.Errorf("%s: got %v, %v", tt.name, ev, err)
		}
	}
	// Without conditions, validation is the first check.
	if _, err := orderSpec(t).Extract([]byte(`{"order":{"id":"x","total":1},"customer":{"id":"u"`), nil, captureTime); !errors.Is(err, ErrMalformed) {
		t.Errorf("no conditions, malformed body: got %v, want ErrMalformed", err)
	}
}

func TestParseSource(t *testing.T) {
	good := []string{"order.total", "{http.request.cookie.clickId}", "items.#.price", `[a,b]`, `data.object.metadata.customer_id`, `line_items.#(sku=="A").qty`, "@this"}
	for _, s := range good {
		if _, err := ParseSource(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	bad := []string{"", "order..total", ".total", "total.", "items.#(sku==\"A\"", "[a,b", "a]", "{}", "ref:{http.request.uri.path.2}"}
	for _, s := range bad {
		if _, err := ParseSource(s); err == nil {
			t.Errorf("%q: want an error", s)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := map[string]string{
		"2026-04-10T12:45:10.000Z":       "2026-04-10T12:45:10.000Z",
		"2026-04-10T14:45:10.5+02:00":    "2026-04-10T12:45:10.500Z",
		"2026-04-10T12:45:10":            "2026-04-10T12:45:10.000Z",
		"2026-04-10 12:45:10":            "2026-04-10T12:45:10.000Z",
		"2026-04-10T12:45:10.123456789Z": "2026-04-10T12:45:10.123Z",
		"1775825110":                     "2026-04-10T12:45:10.000Z",
		"1775825110123":                  "2026-04-10T12:45:10.123Z",
		"1775825110.5":                   "2026-04-10T12:45:10.500Z",
		"1775825110123.9":                "2026-04-10T12:45:10.123Z",
		"1775825110123456":               "2026-04-10T12:45:10.123Z",
		"1775825110123456789":            "2026-04-10T12:45:10.123Z",
		"0000001775825110":               "2026-04-10T12:45:10.000Z",
		"2026-04-10":                     "2026-04-10T00:00:00.000Z",
	}
	for in, want := range tests {
		got, err := ParseTimestamp(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if s := got.Format(TimestampLayout); s != want {
			t.Errorf("%q: got %s, want %s", in, s, want)
		}
	}
	for _, in := range []string{"", "tomorrow", "-5", "10/04/2026", "NaN", "Inf", "+Inf", "0x1p30", "1_0", "1e15", "1e300",
		"+1775825110", "1775825110.", ".5", "1775825110.12.3", "99999999999999999999"} {
		if got, err := ParseTimestamp(in); err == nil {
			t.Errorf("%q: got %v, want an error", in, got)
		}
	}
}

// An extracted event holds copies of its fields, not slices of the body:
// 250 events from 64 KB bodies take kilobytes, not 16 MB.
func TestExtractedEventDoesNotHoldTheBody(t *testing.T) {
	spec := orderSpec(t)
	pad := strings.Repeat("x", 64<<10)
	events := make([]*Event, 0, 250)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < cap(events); i++ {
		body := fmt.Sprintf(`{"pad":"%s","order":{"id":"inv_%d","total":"19.99","currency":"eur"},"customer":{"id":"user_%d","email":"a@example.com","first":"A","last":"B"}}`, pad, i, i)
		ev, err := spec.Extract([]byte(body), nil, captureTime)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 4<<20 {
		t.Errorf("250 events hold %d MiB of heap; their bodies were kept", grew>>20)
	}
	runtime.KeepAlive(events)
}
