package sale

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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
// preset must make of it: a payload (want); or not an event, notSale naming
// the condition that must be the one to fail and reason its reason name;
// or an event that cannot be reported (rejectField), rejectObject naming
// the provider's object the rejection names.
//
// without and edit derive a payload shape the fixtures do not show from
// one they do. without names dotted object paths deleted from the fixture
// before extraction, as when a platform leaves those keys out or null.
// edit replaces text in it, in pairs (old, new), as when the shop tagged
// it under another name; label names such a case.
type presetCase struct {
	file         string
	without      []string
	edit         []string
	label        string
	vars         map[string]string // placeholder values: the request's cookies and variables
	want         string
	notSale      string
	reason       string
	rejectField  string
	rejectObject string
	// refs are the checkout references the event carries, when the case
	// checks them.
	refs []string
}

// The names every payment preset must read the shop's tags under, and
// the browser's click sources of every storefront preset, written here
// apart from the presets' own lists, so that a name dropped there fails a
// case derived here.
var (
	acceptedCustomerNames = []string{"customerExternalId", "customer_external_id", "customerId", "customer_id", "userId", "user_id"}
	acceptedClickNames    = []string{"clickId", "click_id", "cms_rf", "dub_id"}
	acceptedBrowserClick  = []string{"{http.vars.click_id}", "{http.request.cookie.cms_rf}", "{http.request.cookie.dub_id}", "{http.request.cookie.clickId}"}
)

// tagged derives a case from base for each other name the preset accepts
// for one of the shop's tags: from, the tag as the fixture writes it,
// becomes format written with each key. Each comes out as base does.
func tagged(base presetCase, from, format string, keys []string) []presetCase {
	var out []presetCase
	for _, key := range keys {
		to := fmt.Sprintf(format, key)
		if to == from {
			continue
		}
		c := base
		c.edit = append(slices.Clone(base.edit), from, to)
		c.label = key
		out = append(out, c)
	}
	return out
}

// fromBrowser derives a case from base for each of a storefront
// response's browser click sources, holding click alone. base's payload
// carries that click.
func fromBrowser(base presetCase, click string) []presetCase {
	out := make([]presetCase, 0, len(acceptedBrowserClick))
	for _, src := range acceptedBrowserClick {
		c := base
		c.vars = map[string]string{src: click}
		c.label = strings.Trim(src, "{}")
		out = append(out, c)
	}
	return out
}

// Base cases that derived ones start from.
var (
	stripeIntent = presetCase{file: "payment_intent_succeeded.json",
		want: `{"event":"sale","timestamp":"2026-04-10T12:45:11.000Z","customerExternalId":"user_8412","currency":"USD","amount":199.5,"invoiceId":"pi_3PwTpzKZ3qJ8yWbN1gX4kM2r","clickId":"cl_7Hq2x9Lm"}`,
		refs: []string{"pi_3PwTpzKZ3qJ8yWbN1gX4kM2r"}}
	stripeSession = presetCase{file: "checkout_session_completed.json",
		want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.000Z","customerExternalId":"user_8412","email":"alex.johnson@example.com","name":"Alex Johnson","currency":"USD","amount":199.5,"invoiceId":"pi_3PwTpzKZ3qJ8yWbN1gX4kM2r","clickId":"cl_7Hq2x9Lm"}`,
		refs: []string{"cs_live_a1Qm3vT8Zt9WcLxP4sJd2HbN6yRfE0gKuVo7iXw5CqMlA2nBe8DzG3hYj", "pi_3PwTpzKZ3qJ8yWbN1gX4kM2r"}}
	shopifyPaid = presetCase{file: "orders_paid.json",
		want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.000Z","customerExternalId":"user_8412","email":"jon@example.com","name":"John Smith","currency":"CAD","amount":403.0,"invoiceId":"820982911946154508","clickId":"cl_7Hq2x9Lm"}`}
	paddleCompleted = presetCase{file: "transaction_completed.json",
		want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.482Z","customerExternalId":"user_8412","currency":"USD","amount":297.0,"invoiceId":"txn_01k7r3f9x2m4p6q8s0u2w4y6za","clickId":"cl_7Hq2x9Lm"}`,
		refs: []string{"txn_01k7r3f9x2m4p6q8s0u2w4y6za"}}
	paddleRenewal = presetCase{file: "transaction_completed_renewal_jpy.json",
		want: `{"event":"sale","timestamp":"2026-05-10T12:45:09.905Z","customerExternalId":"user_8412","currency":"JPY","amount":4980,"invoiceId":"txn_01j2kd9w4r5fc7x6y3b8q1m0za","clickId":"cl_7Hq2x9Lm"}`}
	lemonOrder = presetCase{file: "order_created.json",
		want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.000Z","customerExternalId":"user_8412","email":"alex.johnson@example.com","name":"Alex Johnson","currency":"USD","amount":11.99,"invoiceId":"b8e4f5a1-3c2d-4e6f-8a9b-0c1d2e3f4a5b","clickId":"cl_7Hq2x9Lm"}`}
	medusaGuest = presetCase{file: "cart_complete_guest_cookie.json",
		want: `{"event":"sale","timestamp":"2026-04-10T13:05:44.918Z","customerExternalId":"cus_01JRK6Z8Y6X4W2V0T8S6R4Q2P0","email":"tom.baker@example.co.uk","name":"Tom Baker","currency":"GBP","amount":64.0,"invoiceId":"order_01JRK7A2B4C6D8E0F2G4H6J8K0","clickId":"cl_Ck9Tom64"}`}
	saleorComplete = presetCase{file: "checkout_complete.json", vars: map[string]string{"{http.request.cookie.clickId}": "cl_Cookie01"},
		want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.314Z","customerExternalId":"user_8412","email":"priya.nair@example.com","name":"Priya Nair","currency":"USD","amount":128.74,"invoiceId":"T3JkZXI6NWY5ZTFjM2EtN2IyZC00ZThmLTlhMGMtMWQzZTVmN2E5YjJj","clickId":"cl_7Hq2x9Lm"}`}
	saleorGuest = presetCase{file: "checkout_complete_guest_cookie.json",
		want: `{"event":"sale","timestamp":"2026-04-10T13:20:00.000Z","customerExternalId":"user_6021","email":"li.wei@example.com","name":"Li Wei","currency":"USD","amount":30.01,"invoiceId":"T3JkZXI6NmEwZjJkNGItOGMzZS00ZjlhLWExYjItYzNkNGU1ZjZhN2I4","clickId":"cl_CkLiWei1"}`}
	medusaCustomer = presetCase{file: "customer_create.json",
		want: `{"event":"lead","timestamp":"2026-04-08T09:12:40.511Z","customerExternalId":"cus_01JRK3Z5A7B9C1D3E5F7G9H1J3","email":"lena.fischer@example.de","name":"Lena Fischer","clickId":"cl_7Hq2x9Lm"}`}
	medusaServerSide = presetCase{file: "customer_create_server_side.json",
		want: `{"event":"lead","timestamp":"2026-04-09T16:20:05.117Z","customerExternalId":"cus_01JRK5B7C9D1E3F5G7H9J1K3M5","email":"jonas.berg@example.se","name":"Jonas Berg","clickId":"cl_Jb5Kd81q"}`}
	saleorRegister = presetCase{file: "account_register.json",
		want: `{"event":"lead","timestamp":"2026-04-08T10:02:11.482Z","customerExternalId":"VXNlcjoyMTg3","email":"priya.nair@example.com","name":"Priya Nair","clickId":"cl_7Hq2x9Lm"}`}
	clerkCreated = presetCase{file: "user_created.json",
		want: `{"event":"lead","timestamp":"2026-04-08T10:32:11.000Z","customerExternalId":"user_2vQm8KxT3pLr9WzN4cJd7HbF1aE","email":"mara.vogel@example.de","name":"Mara Vogel","clickId":"cl_Zp4Kd81r"}`}
)

var presetCases = map[string][]presetCase{
	"stripe": slices.Concat([]presetCase{
		stripeSession,
		// The same purchase's PaymentIntent, tagged through
		// payment_intent_data.metadata: the same invoice id.
		stripeIntent,
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
			notSale: `[[@this]|#(data.object.object=="checkout.session")|data.object.object,data.object.metadata.customerExternalId,data.object.metadata.customer_external_id,data.object.metadata.customerId,data.object.metadata.customer_id,data.object.metadata.userId,data.object.metadata.user_id]|#(!="")`,
			reason:  "untagged_intent"},
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
		// it misconfigured: rejected, never guessed, never silently dropped,
		// and the rejection names the session.
		{file: "checkout_session_completed_without_customer.json", rejectField: "customer_id",
			rejectObject: "cs_live_g7Ws9bZ4Fz5CiRdV0yPj8NhT2eXlK6mQaUu3oDc1IwSsG8tHk4JfM9nEp"},
		// A shop that follows Dub's Stripe guide: its customer in
		// metadata, a team id in client_reference_id. The tag wins.
		{file: "checkout_session_completed.json", label: "tag_before_client_reference_id",
			edit: []string{`"client_reference_id": "user_8412"`, `"client_reference_id": "team_2210"`,
				`"click_id": "cl_7Hq2x9Lm",`, `"customerExternalId": "user_4410", "click_id": "cl_7Hq2x9Lm",`},
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.000Z","customerExternalId":"user_4410","email":"alex.johnson@example.com","name":"Alex Johnson","currency":"USD","amount":199.5,"invoiceId":"pi_3PwTpzKZ3qJ8yWbN1gX4kM2r","clickId":"cl_7Hq2x9Lm"}`},
		// Dub's Stripe links put the click in client_reference_id as
		// dub_id_…: it is no customer.
		{file: "checkout_session_completed.json", label: "dub_click_reference",
			edit:        []string{`"client_reference_id": "user_8412"`, `"client_reference_id": "dub_id_7Hq2x9Lm"`},
			rejectField: "customer_id", rejectObject: "cs_live_a1Qm3vT8Zt9WcLxP4sJd2HbN6yRfE0gKuVo7iXw5CqMlA2nBe8DzG3hYj"},
	},
		tagged(stripeIntent, `"customer_id": "user_8412"`, `"%s": "user_8412"`, acceptedCustomerNames),
		tagged(stripeIntent, `"click_id": "cl_7Hq2x9Lm"`, `"%s": "cl_7Hq2x9Lm"`, acceptedClickNames),
	),
	"shopify": slices.Concat([]presetCase{
		// Shopify's documented ids exceed 2^53: every digit is kept.
		shopifyPaid,
		// An order the storefront did not tag: Shopify's own customer id
		// is no customerExternalId, so it is rejected, naming the order.
		{file: "orders_paid_untagged.json", rejectField: "customer_id", rejectObject: "5940139491234"},
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
		tagged(shopifyPaid, `"name": "customer_id"`, `"name": "%s"`, acceptedCustomerNames),
		tagged(shopifyPaid, `"name": "click_id"`, `"name": "%s"`, acceptedClickNames),
	),
	"paddle": slices.Concat([]presetCase{
		paddleCompleted,
		paddleRenewal,
		// A renewal Paddle billed without the shop's custom data is not
		// this webhook's sale; a checkout the shop opened without it is a
		// misconfiguration, rejected, naming the transaction.
		{file: "transaction_completed_renewal_untagged.json",
			notSale: `[[@this]|#(data.origin=="web")|data.origin,[@this]|#(data.origin=="api")|data.origin,data.custom_data.customerExternalId,data.custom_data.customer_external_id,data.custom_data.customerId,data.custom_data.customer_id,data.custom_data.userId,data.custom_data.user_id]|#(!="")`},
		{file: "transaction_completed_without_customer.json", rejectField: "customer_id", rejectObject: "txn_01k7s0a2c4e6g8j0l2n4q6s8u0"},
		// A transaction the shop created through the API is its own too.
		{file: "transaction_completed_without_customer.json", label: "origin_api",
			edit:        []string{`"origin": "web"`, `"origin": "api"`},
			rejectField: "customer_id", rejectObject: "txn_01k7s0a2c4e6g8j0l2n4q6s8u0"},
		{file: "transaction_paid.json",
			notSale: `event_type transaction.completed`},
		{file: "transaction_completed_free_trial.json",
			notSale: `data.details.totals.grand_total|@fromstr`},
		{file: "transaction_payment_failed.json",
			notSale: `event_type transaction.completed`},
		{file: "adjustment_created_refund.json",
			notSale: `event_type transaction.completed`},
	},
		tagged(paddleCompleted, `"customer_id": "user_8412"`, `"%s": "user_8412"`, acceptedCustomerNames),
		tagged(paddleCompleted, `"click_id": "cl_7Hq2x9Lm"`, `"%s": "cl_7Hq2x9Lm"`, acceptedClickNames),
		// A renewal counts under any of the names too.
		tagged(paddleRenewal, `"customer_id": "user_8412"`, `"%s": "user_8412"`, acceptedCustomerNames),
	),
	"lemonsqueezy": slices.Concat([]presetCase{
		lemonOrder,
		{file: "order_created_eur.json",
			want: `{"event":"sale","timestamp":"2026-04-10T13:02:44.000Z","customerExternalId":"user_2291","email":"mara.vogel@example.de","name":"Mara Vogel","currency":"EUR","amount":24.99,"invoiceId":"4d3c2b1a-0f9e-4d8c-b7a6-5e4f3a2b1c0d"}`},
		// An order bought through a link without custom data: Lemon
		// Squeezy's own customer_id is not the shop's.
		{file: "order_created.json", without: []string{"meta.custom_data"}, rejectField: "customer_id", rejectObject: "5120437"},
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
		tagged(lemonOrder, `"customer_id": "user_8412"`, `"%s": "user_8412"`, acceptedCustomerNames),
		tagged(lemonOrder, `"click_id": "cl_7Hq2x9Lm"`, `"%s": "cl_7Hq2x9Lm"`, acceptedClickNames),
	),
	"medusa": slices.Concat([]presetCase{
		// Completed with ?fields=+customer_id: Medusa's customer, the
		// browser's click.
		{file: "cart_complete_order.json", vars: map[string]string{"{http.request.cookie.cms_rf}": "cl_7Hq2x9Lm"},
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.204Z","customerExternalId":"cus_01JRK3Z5A7B9C1D3E5F7G9H1J3","email":"lena.fischer@example.de","name":"Lena Fischer","currency":"EUR","amount":118.28,"invoiceId":"order_01JRK4M8N2P6Q0R4S8T2V6W0XY","clickId":"cl_7Hq2x9Lm"}`},
		// Completed as the JS SDK's complete() does by default, asking for
		// no fields: no customer_id and no email. Rejected, naming the
		// order.
		{file: "cart_complete_order.json", without: []string{"order.customer_id", "order.email"},
			rejectField: "customer_id", rejectObject: "order_01JRK4M8N2P6Q0R4S8T2V6W0XY"},
		// A click on this very request (the variable) is newer than the cookie.
		{file: "cart_complete_guest_cookie.json", vars: map[string]string{"{http.request.cookie.clickId}": "cl_Ck9Tom64", "{http.vars.click_id}": "cl_Var00001"},
			want: `{"event":"sale","timestamp":"2026-04-10T13:05:44.918Z","customerExternalId":"cus_01JRK6Z8Y6X4W2V0T8S6R4Q2P0","email":"tom.baker@example.co.uk","name":"Tom Baker","currency":"GBP","amount":64.0,"invoiceId":"order_01JRK7A2B4C6D8E0F2G4H6J8K0","clickId":"cl_Var00001"}`},
		// A cart completed with one address only: the name comes from
		// whichever it has.
		{file: "cart_complete_order.json", without: []string{"order.billing_address"}, vars: map[string]string{"{http.request.cookie.cms_rf}": "cl_7Hq2x9Lm"},
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.204Z","customerExternalId":"cus_01JRK3Z5A7B9C1D3E5F7G9H1J3","email":"lena.fischer@example.de","name":"Lena Fischer","currency":"EUR","amount":118.28,"invoiceId":"order_01JRK4M8N2P6Q0R4S8T2V6W0XY","clickId":"cl_7Hq2x9Lm"}`},
		{file: "cart_complete_order.json", without: []string{"order.shipping_address"}, vars: map[string]string{"{http.request.cookie.cms_rf}": "cl_7Hq2x9Lm"},
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.204Z","customerExternalId":"cus_01JRK3Z5A7B9C1D3E5F7G9H1J3","email":"lena.fischer@example.de","name":"Lena Fischer","currency":"EUR","amount":118.28,"invoiceId":"order_01JRK4M8N2P6Q0R4S8T2V6W0XY","clickId":"cl_7Hq2x9Lm"}`},
		// Completed by the storefront's server: no cookie, but the cart id
		// in the path is the reference the binding finds the click and
		// the customer by.
		{file: "cart_complete_order.json", vars: map[string]string{"{http.request.uri.path.2}": "cart_01JRK4K2M6P0R4T8W2Y6A0C4E8"},
			want: `{"event":"sale","timestamp":"2026-04-10T12:45:10.204Z","customerExternalId":"cus_01JRK3Z5A7B9C1D3E5F7G9H1J3","email":"lena.fischer@example.de","name":"Lena Fischer","currency":"EUR","amount":118.28,"invoiceId":"order_01JRK4M8N2P6Q0R4S8T2V6W0XY"}`,
			refs: []string{"cart_01JRK4K2M6P0R4T8W2Y6A0C4E8"}},
		// The payment provider threw: 200 with the cart and the error.
		{file: "cart_complete_payment_error.json",
			notSale: `type order`},
		// The provider refused the authorisation: 400 not_allowed.
		{file: "cart_complete_not_allowed.json",
			notSale: `type order`},
		{file: "cart_complete_v1_order.json",
			notSale: `order.id`},
		{file: "cart_complete_free_order.json",
			notSale: `[order.total,!1]|0`},
	},
		fromBrowser(medusaGuest, "cl_Ck9Tom64"),
	),
	"saleor": slices.Concat([]presetCase{
		saleorComplete,
		// A click on this very request (the variable) is newer than the cookie.
		{file: "checkout_complete_guest_cookie.json", vars: map[string]string{"{http.request.cookie.clickId}": "cl_CkLiWei1", "{http.vars.click_id}": "cl_Var00002"},
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
		{file: "checkout_complete_without_customer.json", vars: map[string]string{"{http.request.cookie.clickId}": "cl_CkAnon01"},
			rejectField: "customer_id", rejectObject: "T3JkZXI6OGMyYjRmNmQtMGU1YS00YjFjLWMzZDQtZTVmNmE3YjhjOWQw"},
	},
		tagged(saleorComplete, `"key": "customer_id"`, `"key": "%s"`, acceptedCustomerNames),
		tagged(saleorComplete, `"key": "click_id"`, `"key": "%s"`, acceptedClickNames),
		fromBrowser(saleorGuest, "cl_CkLiWei1"),
	),
	"medusa_customer": slices.Concat([]presetCase{
		// Registered from a storefront that tagged the customer: its
		// metadata wins over the browser's cookie.
		medusaServerSide,
		{file: "customer_create_server_side.json", vars: map[string]string{"{http.request.cookie.cms_rf}": "cl_Cookie01"},
			want: medusaServerSide.want},
		// A sign-up without a click is still read; whether it is sent is
		// the lead's own rule.
		{file: "customer_create.json",
			want: `{"event":"lead","timestamp":"2026-04-08T09:12:40.511Z","customerExternalId":"cus_01JRK3Z5A7B9C1D3E5F7G9H1J3","email":"lena.fischer@example.de","name":"Lena Fischer"}`},
		// The email has an account already: 422, no customer.
		{file: "customer_create_duplicate.json",
			notSale: `customer.id`},
	},
		tagged(medusaServerSide, `"cms_rf": "cl_Jb5Kd81q"`, `"%s": "cl_Jb5Kd81q"`, acceptedClickNames),
		fromBrowser(medusaCustomer, "cl_7Hq2x9Lm"),
	),
	"saleor_register": slices.Concat([]presetCase{
		// The click in the user's metadata wins over the cookie.
		{file: "account_register.json", vars: map[string]string{"{http.request.cookie.cms_rf}": "cl_Cookie01"},
			want: saleorRegister.want},
		// With email confirmation on, the account exists already: a sign-up.
		{file: "account_register.json", label: "requires_confirmation",
			edit: []string{`"requiresConfirmation": false`, `"requiresConfirmation": true`},
			want: saleorRegister.want},
		{file: "account_register_errors.json",
			notSale: `data.accountRegister.user`},
		// Saleor 3.21 and later answer every registration with user.id "":
		// rejected, loudly.
		{file: "account_register_without_id.json", rejectField: "customer_id"},
	},
		tagged(saleorRegister, `"key": "click_id"`, `"key": "%s"`, acceptedClickNames),
		fromBrowser(presetCase{file: "account_register.json", without: []string{"data.accountRegister.user.metadata"}, want: saleorRegister.want}, "cl_7Hq2x9Lm"),
	),
	"clerk": slices.Concat([]presetCase{
		clerkCreated,
		// A user the shop created through the Backend API with its own id.
		{file: "user_created.json", label: "external_id",
			edit: []string{`"external_id": null`, `"external_id": "usr_1042"`},
			want: `{"event":"lead","timestamp":"2026-04-08T10:32:11.000Z","customerExternalId":"usr_1042","email":"mara.vogel@example.de","name":"Mara Vogel","clickId":"cl_Zp4Kd81r"}`},
		{file: "user_updated.json",
			notSale: `type user.created`},
	},
		tagged(clerkCreated, `"dub_id": "cl_Zp4Kd81r"`, `"%s": "cl_Zp4Kd81r"`, acceptedClickNames),
	),
}

func presetFixture(t *testing.T, preset, file string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "presets", preset, file))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// presetSpec builds a preset's spec as its handler does: lead_track for a
// lead preset, sale_track for a sale's.
func presetSpec(t *testing.T, name string) *Spec {
	t.Helper()
	spec, err := BuildSpec(SpecConfig{Preset: name, Kind: presetRegistry[name].kind()})
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
		return notSaleOutcome(tc.notSale, tc.reason)
	case tc.rejectField != "":
		return rejectOutcome(tc.rejectField, tc.rejectObject)
	}
	return "event: " + tc.want + refsOutcome(tc.refs)
}

// refsOutcome adds the references to an event's outcome when a case
// checks them.
func refsOutcome(refs []string) string {
	if refs == nil {
		return ""
	}
	return " refs: " + strings.Join(refs, " ")
}

func notSaleOutcome(condition, reason string) string {
	if reason != "" {
		return "not an event: " + condition + " (" + reason + ")"
	}
	return "not an event: " + condition
}

func rejectOutcome(field, object string) string {
	if object != "" {
		return "rejected: " + field + " in " + object
	}
	return "rejected: " + field
}

// presetOutcome is what spec makes of a case's fixture: the payload, the
// condition that failed and its reason, or the field that was rejected
// and the object the rejection names.
func presetOutcome(t *testing.T, spec *Spec, preset string, tc presetCase) string {
	body := presetFixture(t, preset, tc.file)
	if len(tc.without) > 0 {
		body = presetWithout(t, body, tc.without)
	}
	body = presetEdit(t, body, tc.edit)
	ev, err := spec.Extract(body, presetResolver(tc.vars), presetCaptureTime)
	var notSale *NotSaleError
	var reject *RejectError
	switch {
	case errors.As(err, &notSale):
		return notSaleOutcome(notSale.Condition, notSale.Reason)
	case errors.As(err, &reject):
		return rejectOutcome(reject.Field, reject.Object)
	case err != nil:
		return "error: " + err.Error()
	}
	out := "event: " + string(ev.Payload(false))
	if tc.refs != nil {
		out += refsOutcome(append([]string{}, ev.Refs...))
	}
	return out
}

// presetEdit replaces text in a fixture, pairs of old and new. Text that
// is not there fails the test, so an edited case cannot quietly edit
// nothing.
func presetEdit(t *testing.T, body []byte, edit []string) []byte {
	t.Helper()
	for i := 0; i+1 < len(edit); i += 2 {
		if !bytes.Contains(body, []byte(edit[i])) {
			t.Fatalf("edit %s: not in the fixture", edit[i])
		}
		body = bytes.ReplaceAll(body, []byte(edit[i]), []byte(edit[i+1]))
	}
	return body
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

// name is the case's subtest name: its file, what was deleted from it and
// its label.
func (tc presetCase) name() string {
	n := strings.TrimSuffix(tc.file, ".json")
	if len(tc.without) > 0 {
		n += "/without_" + strings.Join(tc.without, "+")
	}
	if tc.label != "" {
		n += "/" + tc.label
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

// A PaymentIntent the shop did not tag is not a sale of the stripe preset,
// and says so by its reason name; one it tagged under any customer name
// is, even outside Checkout.
func TestPresetStripeIntentNeedsMetadata(t *testing.T) {
	spec := presetSpec(t, "stripe")
	base := `{"type":"payment_intent.succeeded","created":1775825110,"data":{"object":{"id":"pi_2","object":"payment_intent","status":"succeeded","amount_received":500,"currency":"usd","metadata":%s}}}`
	for meta, want := range map[string]string{
		`{}`:                               "",
		`{"customer_id":""}`:               "",
		`{"order":"A-1"}`:                  "",
		`{"client_reference_id":"u"}`:      "",
		`{"customer_id":"u"}`:              "u",
		`{"userId":"u"}`:                   "u",
		`{"customer_id":"","user_id":"u"}`: "u",
	} {
		ev, err := spec.Extract([]byte(strings.Replace(base, "%s", meta, 1)), nil, presetCaptureTime)
		if want != "" {
			if err != nil || ev.CustomerExternalID != want {
				t.Errorf("metadata %s: %v, %v; want a sale for %s", meta, ev, err, want)
			}
			continue
		}
		var notSale *NotSaleError
		if !errors.As(err, &notSale) || notSale.Reason != "untagged_intent" {
			t.Errorf("metadata %s: got %v, want a *NotSaleError with reason untagged_intent", meta, err)
		}
	}
}

// Shopify's documented ids exceed 2^53: the invoice id keeps every digit,
// and so does the order a rejection names.
func TestPresetShopifyKeepsLargeIDs(t *testing.T) {
	spec := presetSpec(t, "shopify")
	body := presetFixture(t, "shopify", "orders_paid.json")
	ev, err := spec.Extract(body, nil, presetCaptureTime)
	if err != nil {
		t.Fatal(err)
	}
	if ev.InvoiceID != "820982911946154508" {
		t.Fatalf("invoice %q: digits lost", ev.InvoiceID)
	}
	untagged := presetEdit(t, body, []string{`"name": "customer_id"`, `"name": "something_else"`})
	_, err = spec.Extract(untagged, nil, presetCaptureTime)
	var reject *RejectError
	if !errors.As(err, &reject) || reject.Object != "820982911946154508" || reject.InvoiceID != "820982911946154508" {
		t.Fatalf("untagged order: %v (%+v); want a rejection naming order 820982911946154508", err, reject)
	}
}

// A lead preset is chosen by lead_track, a sale preset by sale_track;
// neither reads the other's event.
func TestPresetKinds(t *testing.T) {
	for _, name := range PresetNames() {
		kind := presetRegistry[name].kind()
		other := KindLead
		if kind == KindLead {
			other = KindSale
		}
		if _, err := BuildSpec(SpecConfig{Preset: name, Kind: kind}); err != nil {
			t.Errorf("%s as a %s: %v", name, kind, err)
		}
		if _, err := BuildSpec(SpecConfig{Preset: name, Kind: other}); err == nil || !strings.Contains(err.Error(), "reads a "+kind) {
			t.Errorf("%s as a %s: %v, want a refusal", name, other, err)
		}
	}
}

func TestPresetNames(t *testing.T) {
	want := []string{"clerk", "lemonsqueezy", "medusa", "medusa_customer", "paddle", "saleor", "saleor_register", "shopify", "stripe"}
	if got := PresetNames(); !reflect.DeepEqual(got, want) {
		t.Fatalf("PresetNames() = %v, want %v", got, want)
	}
	if !sort.StringsAreSorted(PresetNames()) {
		t.Fatal("not sorted")
	}
	if _, err := LookupPreset("woocommerce"); err == nil || !strings.Contains(err.Error(), "known: clerk, lemonsqueezy, medusa") {
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
		required := []Field{FieldAmount, FieldCurrency, FieldCustomerID, FieldInvoiceID, FieldTimestamp, FieldClickID}
		if p.kind() == KindLead {
			required = []Field{FieldCustomerID, FieldTimestamp, FieldClickID}
			for _, f := range []Field{FieldAmount, FieldCurrency, FieldInvoiceID, FieldAmountDigits} {
				if len(p.Fields[f]) > 0 {
					t.Errorf("%s: a lead has no %s", name, f)
				}
			}
		} else if len(p.ObjectID) == 0 {
			t.Errorf("%s: no object id: a rejected sale could not be found", name)
		}
		for _, f := range required {
			if len(p.Fields[f]) == 0 {
				t.Errorf("%s: no %s", name, f)
			}
		}
		if len(p.When) == 0 {
			t.Errorf("%s: no conditions: every body would count", name)
		}
		spec, err := buildSpec(p, SpecConfig{Kind: p.kind()})
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
	p.ObjectID[0] = "changed"

	again, _ := LookupPreset("stripe")
	if again.Fields[FieldAmount][0] != "data.object.amount_total" || len(again.Fields[FieldEmail]) == 0 ||
		again.When[0].Values[0] != "checkout.session.completed" || len(again.When) != 3 || again.AmountUnit != fx.Minor ||
		again.ObjectID[0] != "data.object.id" {
		t.Fatalf("the registry was modified through a copy: %+v", again)
	}
	if again.When[2].Reason != "untagged_intent" {
		t.Fatalf("a copy lost the condition's reason: %+v", again.When[2])
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
