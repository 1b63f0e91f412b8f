package sale

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/fx"
)

// presetCaptureTime is when the proxy "saw" each fixture: after every
// fixture's own time, since a timestamp more than a day ahead of the
// capture is replaced by it. Every preset takes the sale's time from the
// payload, so the capture time never shows in a payload.
var presetCaptureTime = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

// presetCase is one fixture under testdata/presets/<preset>/ and what the
// preset must make of it: a payload (want); or not a sale, notSale naming
// the condition that must be the one to fail; or a sale that cannot be
// reported (rejectField).
//
// without derives a payload shape the fixtures do not show from one they
// do: the dotted object paths it names are deleted from the fixture before
// extraction, as when a platform leaves those keys out or null.
type presetCase struct {
	file        string
	without     []string
	vars        map[string]string // placeholder values: the request's cookies and variables
	want        string
	notSale     string
	rejectField string
}

var presetCases = map[string][]presetCase{
	"stripe": {
		{file: "checkout_session_completed.json",
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.000Z","customerExternalId":"user_8412","email":"alex.johnson@example.com","name":"Alex Johnson","currency":"USD","amount":199.5,"invoiceId":"pi_3PwTpzKZ3qJ8yWbN1gX4kM2r","clickId":"cl_7Hq2x9Lm"}`},
		// The same purchase's PaymentIntent, tagged through
		// payment_intent_data.metadata: the same invoice id.
		{file: "payment_intent_succeeded.json",
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:11.000Z","customerExternalId":"user_8412","currency":"USD","amount":199.5,"invoiceId":"pi_3PwTpzKZ3qJ8yWbN1gX4kM2r","clickId":"cl_7Hq2x9Lm"}`},
		{file: "checkout_session_completed_async_unpaid.json",
			notSale: `[data.object.payment_status,data.object.status]|0 paid succeeded`},
		{file: "checkout_session_async_payment_succeeded.json",
			want: `{"event":"sale","timestamp":"2026-04-13T12:50:00.000Z","customerExternalId":"user_2291","email":"mara.vogel@example.de","name":"Mara Vogel","currency":"EUR","amount":49.0,"invoiceId":"pi_3PwUa1KZ3qJ8yWbN0sE6pA7b","clickId":"cl_Zp4Kd81r"}`},
		{file: "checkout_session_async_payment_failed.json",
			notSale: `type checkout.session.completed checkout.session.async_payment_succeeded payment_intent.succeeded`},
		{file: "checkout_session_completed_no_payment_required.json",
			notSale: `[data.object.payment_status,data.object.status]|0 paid succeeded`},
		{file: "checkout_session_completed_subscription.json",
			want: `{"event":"sale","timestamp":"2026-04-10T13:08:20.000Z","customerExternalId":"user_5120","email":"sam.lee@example.co.uk","name":"Sam Lee","currency":"GBP","amount":29.0,"invoiceId":"in_1PwW2cKZ3qJ8yWbN3cD4eF5g","clickId":"cl_Sub5120x"}`},
		{file: "payment_intent_succeeded_untagged.json",
			notSale: `[[@this]|#(data.object.object=="checkout.session"),data.object.metadata.customer_id]|0`},
		{file: "payment_intent_payment_failed.json",
			notSale: `type checkout.session.completed checkout.session.async_payment_succeeded payment_intent.succeeded`},
		{file: "charge_refunded.json",
			notSale: `type checkout.session.completed checkout.session.async_payment_succeeded payment_intent.succeeded`},
		// 1490000 is 14900 króna: Stripe writes ISK with two decimals.
		{file: "checkout_session_completed_isk.json",
			want: `{"event":"sale","timestamp":"2026-04-10T13:25:00.000Z","customerExternalId":"user_6610","email":"helga@example.is","name":"Helga Jónsdóttir","currency":"ISK","amount":14900,"invoiceId":"pi_3PwY6fKZ3qJ8yWbN2iS0kR7a","clickId":"cl_Isk66100"}`},
		{file: "checkout_session_completed_jpy.json",
			want: `{"event":"sale","timestamp":"2026-04-10T13:33:20.000Z","customerExternalId":"user_7731","email":"haruto@example.jp","name":"Haruto Sato","currency":"JPY","amount":4980,"invoiceId":"pi_3PwZ7hKZ3qJ8yWbN4lU5mV6w"}`},
		// 250000 is 250000 ariary: Stripe treats MGA as zero-decimal, ISO
		// gives it two digits.
		{file: "checkout_session_completed_mga.json",
			want: `{"event":"sale","timestamp":"2026-04-10T13:35:00.000Z","customerExternalId":"user_7204","email":"rado.andria@example.mg","name":"Rado Andrianarisoa","currency":"MGA","amount":250000.0,"invoiceId":"pi_3PwZ9ZKZ3qJ8yWbN6pQ1rS2t","clickId":"cl_Mga72040"}`},
		// A PaymentIntent the shop created for the Payment Element, with
		// receipt_email and shipping: its only email and name.
		{file: "payment_intent_succeeded_payment_element.json",
			want: `{"event":"sale","timestamp":"2026-04-10T13:56:40.000Z","customerExternalId":"user_3307","email":"jonas.berg@example.se","name":"Jonas Berg","currency":"EUR","amount":89.0,"invoiceId":"pi_3PwZc1KZ3qJ8yWbN7fG8hI9j","clickId":"cl_Pe3307Qa"}`},
		// A session the shop created without client_reference_id is a sale
		// it misconfigured: rejected, never guessed, never silently dropped.
		{file: "checkout_session_completed_without_customer.json", rejectField: "customer_id"},
	},
	"shopify": {
		// Shopify's documented ids exceed 2^53: every digit is kept.
		{file: "orders_paid.json",
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.000Z","customerExternalId":"user_8412","email":"jon@example.com","name":"John Smith","currency":"CAD","amount":403.0,"invoiceId":"820982911946154508","clickId":"cl_7Hq2x9Lm"}`},
		{file: "orders_paid_customer_fallback.json",
			want: `{"event":"sale","timestamp":"2026-04-11T15:30:00.000Z","customerExternalId":"7190349406483","email":"maria.garcia@example.com","name":"Maria Garcia","currency":"USD","amount":59.99,"invoiceId":"5940139491234"}`},
		// An order without a customer (Shopify POS, or an order an app
		// created without one): the billing address names the buyer.
		{file: "orders_paid.json", without: []string{"customer"},
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.000Z","customerExternalId":"user_8412","email":"jon@example.com","name":"Bob Biller","currency":"CAD","amount":403.0,"invoiceId":"820982911946154508","clickId":"cl_7Hq2x9Lm"}`},
		// A checkout with a phone number as contact: the order has no email,
		// the customer it was matched to has one.
		{file: "orders_paid.json", without: []string{"email", "contact_email"},
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.000Z","customerExternalId":"user_8412","email":"john@example.com","name":"John Smith","currency":"CAD","amount":403.0,"invoiceId":"820982911946154508","clickId":"cl_7Hq2x9Lm"}`},
		{file: "orders_paid_test_notification.json",
			notSale: `financial_status paid`},
		{file: "orders_updated_refunded.json",
			notSale: `financial_status paid`},
		{file: "orders_create_pending.json",
			notSale: `financial_status paid`},
		{file: "orders_paid_free.json",
			notSale: `total_price|@fromstr`},
		{file: "refunds_create.json",
			notSale: `financial_status paid`},
	},
	"paddle": {
		{file: "transaction_completed.json",
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.482Z","customerExternalId":"user_8412","currency":"USD","amount":297.0,"invoiceId":"txn_01k7r3f9x2m4p6q8s0u2w4y6za","clickId":"cl_7Hq2x9Lm"}`},
		{file: "transaction_completed_renewal_jpy.json",
			want: `{"event":"sale","timestamp":"2026-05-10T12:45:09.905Z","customerExternalId":"user_8412","currency":"JPY","amount":4980,"invoiceId":"txn_01j2kd9w4r5fc7x6y3b8q1m0za","clickId":"cl_7Hq2x9Lm"}`},
		// A renewal Paddle billed without the shop's custom data is not
		// this webhook's sale; a checkout the shop opened without it is a
		// misconfiguration, rejected.
		{file: "transaction_completed_renewal_untagged.json",
			notSale: `[[@this]|#(data.origin=="web"),[@this]|#(data.origin=="api"),data.custom_data.customer_id]|0`},
		{file: "transaction_completed_without_customer.json", rejectField: "customer_id"},
		{file: "transaction_paid.json",
			notSale: `event_type transaction.completed`},
		{file: "transaction_completed_free_trial.json",
			notSale: `data.details.totals.grand_total|@fromstr`},
		{file: "transaction_payment_failed.json",
			notSale: `event_type transaction.completed`},
		{file: "adjustment_created_refund.json",
			notSale: `event_type transaction.completed`},
	},
	"lemonsqueezy": {
		{file: "order_created.json",
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.000Z","customerExternalId":"user_8412","email":"alex.johnson@example.com","name":"Alex Johnson","currency":"USD","amount":11.99,"invoiceId":"b8e4f5a1-3c2d-4e6f-8a9b-0c1d2e3f4a5b","clickId":"cl_7Hq2x9Lm"}`},
		{file: "order_created_eur.json",
			want: `{"event":"sale","timestamp":"2026-04-10T13:02:44.000Z","customerExternalId":"user_2291","email":"mara.vogel@example.de","name":"Mara Vogel","currency":"EUR","amount":24.99,"invoiceId":"4d3c2b1a-0f9e-4d8c-b7a6-5e4f3a2b1c0d"}`},
		{file: "order_created_pending.json",
			notSale: `data.attributes.status paid`},
		{file: "order_refunded.json",
			notSale: `meta.event_name order_created`},
		{file: "order_created_resent_after_refund.json",
			notSale: `data.attributes.status paid`},
		{file: "order_created_free.json",
			notSale: `data.attributes.total`},
		{file: "subscription_payment_success.json",
			notSale: `meta.event_name order_created`},
	},
	"medusa": {
		// The cart's metadata wins over the cookie.
		{file: "cart_complete_order.json", vars: map[string]string{"{http.request.cookie.clickId}": "cl_Cookie01"},
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.204Z","customerExternalId":"user_8412","email":"lena.fischer@example.de","name":"Lena Fischer","currency":"EUR","amount":118.28,"invoiceId":"order_01JRK4M8N2P6Q0R4S8T2V6W0XY","clickId":"cl_7Hq2x9Lm"}`},
		// A click on this very request (the variable) is newer than the cookie.
		{file: "cart_complete_guest_cookie.json", vars: map[string]string{"{http.request.cookie.clickId}": "cl_Ck9Tom64", "{http.vars.click_id}": "cl_Var00001"},
			want: `{"event":"sale","timestamp":"2026-04-10T13:05:44.918Z","customerExternalId":"cus_01JRK6Z8Y6X4W2V0T8S6R4Q2P0","email":"tom.baker@example.co.uk","name":"Tom Baker","currency":"GBP","amount":64.0,"invoiceId":"order_01JRK7A2B4C6D8E0F2G4H6J8K0","clickId":"cl_Var00001"}`},
		{file: "cart_complete_guest_cookie.json", vars: map[string]string{"{http.request.cookie.clickId}": "cl_Ck9Tom64"},
			want: `{"event":"sale","timestamp":"2026-04-10T13:05:44.918Z","customerExternalId":"cus_01JRK6Z8Y6X4W2V0T8S6R4Q2P0","email":"tom.baker@example.co.uk","name":"Tom Baker","currency":"GBP","amount":64.0,"invoiceId":"order_01JRK7A2B4C6D8E0F2G4H6J8K0","clickId":"cl_Ck9Tom64"}`},
		{file: "cart_complete_guest_cookie.json", vars: map[string]string{"{http.vars.click_id}": "cl_Var00001"},
			want: `{"event":"sale","timestamp":"2026-04-10T13:05:44.918Z","customerExternalId":"cus_01JRK6Z8Y6X4W2V0T8S6R4Q2P0","email":"tom.baker@example.co.uk","name":"Tom Baker","currency":"GBP","amount":64.0,"invoiceId":"order_01JRK7A2B4C6D8E0F2G4H6J8K0","clickId":"cl_Var00001"}`},
		// A cart completed with one address only: the name comes from
		// whichever it has.
		{file: "cart_complete_order.json", without: []string{"order.billing_address"},
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.204Z","customerExternalId":"user_8412","email":"lena.fischer@example.de","name":"Lena Fischer","currency":"EUR","amount":118.28,"invoiceId":"order_01JRK4M8N2P6Q0R4S8T2V6W0XY","clickId":"cl_7Hq2x9Lm"}`},
		{file: "cart_complete_order.json", without: []string{"order.shipping_address"},
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.204Z","customerExternalId":"user_8412","email":"lena.fischer@example.de","name":"Lena Fischer","currency":"EUR","amount":118.28,"invoiceId":"order_01JRK4M8N2P6Q0R4S8T2V6W0XY","clickId":"cl_7Hq2x9Lm"}`},
		{file: "cart_complete_payment_error.json",
			notSale: `type order`},
		{file: "cart_complete_v1_order.json",
			notSale: `order.id`},
		{file: "cart_complete_free_order.json",
			notSale: `[order.total,!1]|0`},
	},
	"saleor": {
		{file: "checkout_complete.json", vars: map[string]string{"{http.request.cookie.clickId}": "cl_Cookie01"},
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.314Z","customerExternalId":"user_8412","email":"priya.nair@example.com","name":"Priya Nair","currency":"USD","amount":128.74,"invoiceId":"T3JkZXI6NWY5ZTFjM2EtN2IyZC00ZThmLTlhMGMtMWQzZTVmN2E5YjJj","clickId":"cl_7Hq2x9Lm"}`},
		{file: "checkout_complete_guest_cookie.json", vars: map[string]string{"{http.request.cookie.clickId}": "cl_CkLiWei1"},
			want: `{"event":"sale","timestamp":"2026-04-10T13:20:00.000Z","customerExternalId":"user_6021","email":"li.wei@example.com","name":"Li Wei","currency":"USD","amount":30.01,"invoiceId":"T3JkZXI6NmEwZjJkNGItOGMzZS00ZjlhLWExYjItYzNkNGU1ZjZhN2I4","clickId":"cl_CkLiWei1"}`},
		// A click on this very request (the variable) is newer than the cookie.
		{file: "checkout_complete_guest_cookie.json", vars: map[string]string{"{http.request.cookie.clickId}": "cl_CkLiWei1", "{http.vars.click_id}": "cl_Var00002"},
			want: `{"event":"sale","timestamp":"2026-04-10T13:20:00.000Z","customerExternalId":"user_6021","email":"li.wei@example.com","name":"Li Wei","currency":"USD","amount":30.01,"invoiceId":"T3JkZXI6NmEwZjJkNGItOGMzZS00ZjlhLWExYjItYzNkNGU1ZjZhN2I4","clickId":"cl_Var00002"}`},
		{file: "checkout_complete_guest_cookie.json", vars: map[string]string{"{http.vars.click_id}": "cl_Var00002"},
			want: `{"event":"sale","timestamp":"2026-04-10T13:20:00.000Z","customerExternalId":"user_6021","email":"li.wei@example.com","name":"Li Wei","currency":"USD","amount":30.01,"invoiceId":"T3JkZXI6NmEwZjJkNGItOGMzZS00ZjlhLWExYjItYzNkNGU1ZjZhN2I4","clickId":"cl_Var00002"}`},
		// A signed-in buyer whose checkout carries no metadata: Saleor's
		// user id, and the click from the cookie.
		{file: "checkout_complete.json", without: []string{"data.checkoutComplete.order.metadata"}, vars: map[string]string{"{http.request.cookie.clickId}": "cl_CkPriya1"},
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.314Z","customerExternalId":"VXNlcjoyMTg3","email":"priya.nair@example.com","name":"Priya Nair","currency":"USD","amount":128.74,"invoiceId":"T3JkZXI6NWY5ZTFjM2EtN2IyZC00ZThmLTlhMGMtMWQzZTVmN2E5YjJj","clickId":"cl_CkPriya1"}`},
		// A billing address without names: the signed-in buyer's own.
		{file: "checkout_complete.json", without: []string{"data.checkoutComplete.order.billingAddress.firstName", "data.checkoutComplete.order.billingAddress.lastName"},
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.314Z","customerExternalId":"user_8412","email":"priya.nair@example.com","name":"Priya Nair","currency":"USD","amount":128.74,"invoiceId":"T3JkZXI6NWY5ZTFjM2EtN2IyZC00ZThmLTlhMGMtMWQzZTVmN2E5YjJj","clickId":"cl_7Hq2x9Lm"}`},
		// A channel in another currency.
		{file: "checkout_complete_pln.json",
			want: `{"event":"sale","timestamp":"2026-04-11T09:30:00.000Z","customerExternalId":"user_7719","email":"zofia.nowak@example.pl","name":"Zofia Nowak","currency":"PLN","amount":162.6,"invoiceId":"T3JkZXI6M2M5ZTFhN2ItNWQyZi00YjhlLTlhNmMtMGYxZTJkM2M0YjVh","clickId":"cl_Pln77190"}`},
		{file: "checkout_complete_confirmation_needed.json",
			notSale: `data.checkoutComplete.confirmationNeeded false`},
		{file: "checkout_complete_errors.json",
			notSale: `data.checkoutComplete.order.id`},
		{file: "checkout_complete_free_order.json",
			notSale: `[data.checkoutComplete.order.total.gross.amount,!1]|0`},
		{file: "checkout_complete_without_customer.json", vars: map[string]string{"{http.request.cookie.clickId}": "cl_CkAnon01"}, rejectField: "customer_id"},
	},
}

func presetFixture(t *testing.T, preset, file string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "presets", preset, file))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func presetSpec(t *testing.T, name string) *Spec {
	t.Helper()
	spec, err := BuildSpec(SpecConfig{Preset: name})
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func presetResolver(vars map[string]string) Resolver {
	return func(placeholder string) string { return vars[placeholder] }
}

// expected is the outcome a case asks for, as presetOutcome writes it.
func (tc presetCase) expected() string {
	switch {
	case tc.notSale != "":
		return "not a sale: " + tc.notSale
	case tc.rejectField != "":
		return "rejected: " + tc.rejectField
	}
	return "sale: " + tc.want
}

// presetOutcome is what spec makes of a case's fixture: the payload, the
// condition that failed, or the field that was rejected.
func presetOutcome(t *testing.T, spec *Spec, preset string, tc presetCase) string {
	body := presetFixture(t, preset, tc.file)
	if len(tc.without) > 0 {
		body = presetWithout(t, body, tc.without)
	}
	ev, err := spec.Extract(body, presetResolver(tc.vars), presetCaptureTime)
	var notSale *NotSaleError
	var reject *RejectError
	switch {
	case errors.As(err, &notSale):
		return "not a sale: " + notSale.Condition
	case errors.As(err, &reject):
		return "rejected: " + reject.Field
	case err != nil:
		return "error: " + err.Error()
	}
	return "sale: " + string(ev.Payload(false))
}

// presetWithout deletes dotted object paths from a JSON body. Numbers keep
// their text (ids beyond 2^53 stay exact); key order may change, which no
// preset path depends on. A path that is not there fails the test, so a
// derived case cannot quietly derive nothing.
func presetWithout(t *testing.T, body []byte, paths []string) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, path := range paths {
		keys := strings.Split(path, ".")
		obj, _ := doc.(map[string]any)
		for _, k := range keys[:len(keys)-1] {
			obj, _ = obj[k].(map[string]any)
		}
		last := keys[len(keys)-1]
		if _, ok := obj[last]; !ok {
			t.Fatalf("without %s: no such path in the fixture", path)
		}
		delete(obj, last)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// name is the case's subtest name: its file, and what was deleted from it.
func (tc presetCase) name() string {
	n := strings.TrimSuffix(tc.file, ".json")
	if len(tc.without) > 0 {
		n += "/without_" + strings.Join(tc.without, "+")
	}
	return n
}

func TestPresetFixtures(t *testing.T) {
	for _, name := range PresetNames() {
		cases, ok := presetCases[name]
		if !ok {
			t.Errorf("preset %s has no fixtures", name)
			continue
		}
		spec := presetSpec(t, name)
		for _, tc := range cases {
			t.Run(name+"/"+tc.name(), func(t *testing.T) {
				if got, want := presetOutcome(t, spec, name, tc), tc.expected(); got != want {
					t.Fatalf("\n got %s\nwant %s", got, want)
				}
			})
		}
	}
}

// Every fixture on disk is in the table, so none is left untested.
func TestPresetFixturesAllListed(t *testing.T) {
	dirs, err := os.ReadDir(filepath.Join("testdata", "presets"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		files, err := os.ReadDir(filepath.Join("testdata", "presets", dir.Name()))
		if err != nil {
			t.Fatal(err)
		}
		listed := map[string]bool{}
		for _, tc := range presetCases[dir.Name()] {
			listed[tc.file] = true
		}
		for _, f := range files {
			if !listed[f.Name()] {
				t.Errorf("testdata/presets/%s/%s is not in presetCases", dir.Name(), f.Name())
			}
		}
	}
}

// One Checkout purchase fires checkout.session.completed and
// payment_intent.succeeded: both must give the same invoice id so the
// outbox's dedup counts the purchase once, whichever arrives first.
func TestPresetStripeSessionAndIntentShareInvoice(t *testing.T) {
	spec := presetSpec(t, "stripe")
	session, err := spec.Extract(presetFixture(t, "stripe", "checkout_session_completed.json"), nil, presetCaptureTime)
	if err != nil {
		t.Fatal(err)
	}
	intent, err := spec.Extract(presetFixture(t, "stripe", "payment_intent_succeeded.json"), nil, presetCaptureTime)
	if err != nil {
		t.Fatal(err)
	}
	if session.InvoiceID == "" || session.InvoiceID != intent.InvoiceID {
		t.Fatalf("invoice ids %q and %q, want the same PaymentIntent id", session.InvoiceID, intent.InvoiceID)
	}
	if session.CustomerExternalID != intent.CustomerExternalID || !session.Amount.Equal(intent.Amount) || session.ClickID != intent.ClickID {
		t.Fatalf("the two events disagree: %s vs %s", session.Payload(false), intent.Payload(false))
	}
}

// The delayed-payment sequence: completed unpaid is not a sale, the later
// async_payment_succeeded is, under the PaymentIntent id the session
// already had.
func TestPresetStripeAsyncPayment(t *testing.T) {
	spec := presetSpec(t, "stripe")
	_, err := spec.Extract(presetFixture(t, "stripe", "checkout_session_completed_async_unpaid.json"), nil, presetCaptureTime)
	var notSale *NotSaleError
	if !errors.As(err, &notSale) || !strings.Contains(notSale.Condition, "payment_status") {
		t.Fatalf("completed unpaid: got %v, want the payment status condition to fail", err)
	}
	ev, err := spec.Extract(presetFixture(t, "stripe", "checkout_session_async_payment_succeeded.json"), nil, presetCaptureTime)
	if err != nil {
		t.Fatal(err)
	}
	if ev.InvoiceID != "pi_3PwUa1KZ3qJ8yWbN0sE6pA7b" {
		t.Fatalf("invoice id %q", ev.InvoiceID)
	}
}

// Stripe's minor units differ from ISO 4217 for ISK (two decimals in the
// API) and MGA (zero-decimal in the API); every other currency keeps its
// ISO digits.
func TestPresetStripeCurrencyDigits(t *testing.T) {
	spec := presetSpec(t, "stripe")
	tests := []struct {
		currency string
		minor    string
		want     string
	}{
		{"isk", "1490000", "14900"},
		{"mga", "250000", "250000.0"},
		{"usd", "19950", "199.5"},
		{"jpy", "4980", "4980"},
		{"kwd", "12340", "12.34"},
		{"huf", "250000", "2500.0"},
	}
	for _, tt := range tests {
		body := `{"type":"payment_intent.succeeded","created":1775825110,"data":{"object":{"id":"pi_1","object":"payment_intent","status":"succeeded","amount_received":` +
			tt.minor + `,"currency":"` + tt.currency + `","metadata":{"customer_id":"u1"}}}}`
		ev, err := spec.Extract([]byte(body), nil, presetCaptureTime)
		if err != nil {
			t.Fatalf("%s: %v", tt.currency, err)
		}
		if got := fx.JSONNumber(ev.Amount); got != tt.want {
			t.Errorf("%s %s minor units: amount %s, want %s", tt.currency, tt.minor, got, tt.want)
		}
	}
}

// A PaymentIntent the shop did not tag is not a sale of the stripe preset;
// one it tagged is, even outside Checkout.
func TestPresetStripeIntentNeedsMetadata(t *testing.T) {
	spec := presetSpec(t, "stripe")
	base := `{"type":"payment_intent.succeeded","created":1775825110,"data":{"object":{"id":"pi_2","object":"payment_intent","status":"succeeded","amount_received":500,"currency":"usd","metadata":%s}}}`
	for meta, wantSale := range map[string]bool{
		`{}`:                  false,
		`{"customer_id":""}`:  false,
		`{"order":"A-1"}`:     false,
		`{"customer_id":"u"}`: true,
	} {
		_, err := spec.Extract([]byte(strings.Replace(base, "%s", meta, 1)), nil, presetCaptureTime)
		if wantSale && err != nil {
			t.Errorf("metadata %s: %v", meta, err)
		}
		var notSale *NotSaleError
		if !wantSale && !errors.As(err, &notSale) {
			t.Errorf("metadata %s: got %v, want a *NotSaleError", meta, err)
		}
	}
}

func TestPresetShopifyKeepsLargeIDs(t *testing.T) {
	spec := presetSpec(t, "shopify")
	body := presetFixture(t, "shopify", "orders_paid.json")
	// The documented customer id, read when the storefront set no
	// customer_id attribute.
	body = []byte(strings.Replace(string(body), `"name": "customer_id"`, `"name": "something_else"`, 1))
	ev, err := spec.Extract(body, nil, presetCaptureTime)
	if err != nil {
		t.Fatal(err)
	}
	if ev.InvoiceID != "820982911946154508" || ev.CustomerExternalID != "115310627314723954" {
		t.Fatalf("invoice %q customer %q: digits lost", ev.InvoiceID, ev.CustomerExternalID)
	}
}

func TestPresetNames(t *testing.T) {
	want := []string{"lemonsqueezy", "medusa", "paddle", "saleor", "shopify", "stripe"}
	if got := PresetNames(); !reflect.DeepEqual(got, want) {
		t.Fatalf("PresetNames() = %v, want %v", got, want)
	}
	if !sort.StringsAreSorted(PresetNames()) {
		t.Fatal("not sorted")
	}
	if _, err := LookupPreset("woocommerce"); err == nil || !strings.Contains(err.Error(), "known: lemonsqueezy, medusa") {
		t.Fatalf("unknown preset: %v; want an error listing the known ones", err)
	}
	if _, err := BuildSpec(SpecConfig{Preset: "woocommerce"}); err == nil {
		t.Fatal("BuildSpec accepted an unknown preset")
	}
}

func TestPresetsAreWellFormed(t *testing.T) {
	for _, name := range PresetNames() {
		p, _ := LookupPreset(name)
		if p.Name != name {
			t.Errorf("%s: Name is %q", name, p.Name)
		}
		if p.Body != "request" && p.Body != "response" {
			t.Errorf("%s: Source %q", name, p.Body)
		}
		for key, sources := range p.Fields {
			if _, err := ParseField(string(key)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if len(sources) == 0 {
				t.Errorf("%s: %s has no sources", name, key)
			}
		}
		for _, required := range []Field{FieldAmount, FieldCurrency, FieldCustomerID, FieldInvoiceID, FieldTimestamp, FieldClickID} {
			if len(p.Fields[required]) == 0 {
				t.Errorf("%s: no %s", name, required)
			}
		}
		if len(p.When) == 0 {
			t.Errorf("%s: no conditions: every body would be a sale", name)
		}
		spec, err := buildSpec(p, SpecConfig{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if spec.AmountUnit != p.AmountUnit || len(spec.When) != len(p.When) {
			t.Errorf("%s: spec does not carry the unit and conditions", name)
		}
		// Only a response's request came from the browser; a webhook
		// request never carries the shop visitor's cookie.
		for _, src := range spec.Sources[FieldClickID] {
			if src.Placeholder != "" && p.Body != "response" {
				t.Errorf("%s: a webhook preset reads %s", name, src.Placeholder)
			}
		}
	}
}

func TestLookupPresetReturnsCopy(t *testing.T) {
	p, _ := LookupPreset("stripe")
	p.Fields[FieldAmount][0] = "changed"
	p.Fields[FieldEmail] = nil
	p.When[0].Values[0] = "changed"
	p.When = append(p.When, Condition{Path: "x"})
	p.AmountUnit = fx.Major

	again, _ := LookupPreset("stripe")
	if again.Fields[FieldAmount][0] != "data.object.amount_total" || len(again.Fields[FieldEmail]) == 0 ||
		again.When[0].Values[0] != "checkout.session.completed" || len(again.When) != 3 || again.AmountUnit != fx.Minor {
		t.Fatalf("the registry was modified through a copy: %+v", again)
	}
}

func TestPresetSpecErrors(t *testing.T) {
	p, _ := LookupPreset("lemonsqueezy")
	p.Fields[Field("total")] = []string{"data.attributes.total"}
	if _, err := buildSpec(p, SpecConfig{}); err == nil || !strings.Contains(err.Error(), `unknown field "total"`) {
		t.Fatalf("unknown key: %v", err)
	}
	p, _ = LookupPreset("lemonsqueezy")
	p.Fields[FieldAmount] = []string{"data..total"}
	if _, err := buildSpec(p, SpecConfig{}); err == nil || !strings.Contains(err.Error(), "amount") {
		t.Fatalf("bad path: %v", err)
	}
	p, _ = LookupPreset("lemonsqueezy")
	delete(p.Fields, FieldCustomerID)
	if _, err := buildSpec(p, SpecConfig{}); err == nil || !strings.Contains(err.Error(), "customer_id") {
		t.Fatalf("no customer id: %v", err)
	}
}
