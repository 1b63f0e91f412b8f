package sale

import (
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// A body read after its request has ended resolves placeholders from a
// snapshot taken while it ran: the snapshot must hold every placeholder
// the reading asks for, so that the event read is the same either way.
func TestSnapshotHoldsEveryPlaceholderTheReadingAsks(t *testing.T) {
	values := map[string]string{
		"{p.amount}": "12.50", "{p.currency}": "eur", "{p.invoice}": "inv_1", "{p.customer}": "u1",
		"{p.email}": "a@example.com", "{p.name}": "Alex", "{p.click}": "clk_abc123",
		"{p.timestamp}": "2026-11-30T10:00:00Z", "{p.digits}": "2", "{p.ref}": "cs_test_a1",
		"{p.object}": "pi_1",
	}
	fields := map[Field][]string{}
	for _, f := range Fields {
		fields[f] = []string{"{p." + map[Field]string{
			FieldAmount: "amount", FieldCurrency: "currency", FieldInvoiceID: "invoice", FieldCustomerID: "customer",
			FieldEmail: "email", FieldName: "name", FieldClickID: "click", FieldTimestamp: "timestamp",
			FieldAmountDigits: "digits", FieldRef: "ref",
		}[f] + "}", "{p.unset}"}
	}
	spec, err := BuildSpec(SpecConfig{Fields: fields})
	if err != nil {
		t.Fatal(err)
	}
	spec.ObjectID = []Source{{Placeholder: "{p.object}"}}
	placeholders := spec.Placeholders()

	for _, amount := range []string{"12.50", "not a number"} { // a sale, and a rejection naming the object
		values["{p.amount}"] = amount
		var mu sync.Mutex
		var asked []string
		live := func(p string) string {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, p)
			return values[p]
		}
		now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		direct, directErr := spec.Extract(nil, live, now)
		for _, p := range asked {
			if !slices.Contains(placeholders, p) {
				t.Errorf("amount %q: the reading asked for %s, which Placeholders() does not list", amount, p)
			}
		}
		later, laterErr := spec.Extract(nil, Snapshot(placeholders, live), now)
		if !reflect.DeepEqual(direct, later) || !reflect.DeepEqual(directErr, laterErr) {
			t.Errorf("amount %q: read from the snapshot\n%+v %v\nwant\n%+v %v", amount, later, laterErr, direct, directErr)
		}
	}
	if _, err := spec.Extract(nil, Snapshot(placeholders, func(string) string { return "" }), time.Now()); err == nil {
		t.Error("a snapshot of empty placeholders read a sale")
	}
}

// RefSpec lists its placeholders too: checkout_ref reads its response
// after it has ended.
func TestRefSpecPlaceholders(t *testing.T) {
	spec, err := BuildRefSpec("", []string{"{http.response.header.Location}", "id"}, []string{"{http.request.header.X-User}"}, nil, "cms_rf")
	if err != nil {
		t.Fatal(err)
	}
	got := spec.Placeholders()
	want := []string{"{http.response.header.Location}", "{http.request.header.X-User}", "{http.vars.click_id}", "{http.request.cookie.cms_rf}"}
	if !slices.Equal(got, want) {
		t.Fatalf("Placeholders() = %v, want %v", got, want)
	}
}
