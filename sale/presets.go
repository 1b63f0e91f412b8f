package sale

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/saletrack/caddy-saletrack/fx"
)

// Preset is a platform's known payload shape: where each field of a sale
// or a lead is, in what unit the amount is written, and which bodies count
// at all. A config names a preset and overrides any field it writes itself.
// docs/presets.md says, for each preset, which route it belongs on, what
// the shop must set and which documentation it was worked out from.
type Preset struct {
	Name string
	// Kind is KindLead for a sign-up preset; empty for a sale's.
	Kind string
	// Body is "request" for a webhook the shop receives, "response" for
	// the shop's own JSON response.
	Body string
	// Fields maps a field to its sources, tried in order. A field the
	// platform's payload does not carry is absent.
	Fields     map[Field][]string
	AmountUnit fx.Unit
	// When lists the conditions that must all hold for a body to count.
	When []Condition
	// ObjectID lists where the provider's own id of the paid object (a
	// Checkout Session, a transaction, an order) is, tried in order. A sale
	// rejected for want of a customer id names it, so that the shop can
	// find the payment that did not count.
	ObjectID []string
}

// The names the attribution platforms give the shop's own customer id and
// the click id, in their APIs' camelCase and in snake_case. A shop that
// follows CutMeShort's or Dub's docs tags its payments with one of them.
var (
	customerKeys = []string{"customerExternalId", "customer_external_id", "customerId", "customer_id", "userId", "user_id"}
	clickKeys    = []string{"clickId", "click_id", "cms_rf", "dub_id"}
)

// keyed writes one source per key name, each in the place the pattern
// gives it (its %s): where a provider keeps the shop's own data. The first
// name a payload carries wins.
func keyed(pattern string, keys []string) []string {
	out := make([]string, len(keys))
	for i, key := range keys {
		out[i] = fmt.Sprintf(pattern, key)
	}
	return out
}

// browserClick are the click sources of a response to the browser's own
// request, after any the shop tagged: a click on this very request (the
// variable click_cookie sets from the platform's parameter or cookie),
// then the first-party cookie of each platform (CutMeShort, Dub, generic),
// which click_cookie or the platform's own script keeps.
var browserClick = []string{
	"{http.vars.click_id}",
	"{http.request.cookie.cms_rf}",
	"{http.request.cookie.dub_id}",
	"{http.request.cookie.clickId}",
}

// anyValue is a condition path that holds when any of the paths yields a
// value other than "": a multipath leaves out the paths that are missing,
// and #(!="") takes the first of the others that is not empty.
func anyValue(paths ...[]string) string {
	return "[" + strings.Join(slices.Concat(paths...), ",") + `]|#(!="")`
}

// onlyIf is a path that yields path's value when it is v, and nothing
// otherwise.
func onlyIf(path, v string) string {
	return `[@this]|#(` + path + `=="` + v + `")|` + path
}

// presetRegistry holds the presets. An entry is never handed out:
// LookupPreset returns a copy.
var presetRegistry = map[string]*Preset{
	// Stripe webhooks. A Checkout purchase fires checkout.session.completed
	// (or, for a delayed payment method, completed unpaid and then
	// checkout.session.async_payment_succeeded) and also
	// payment_intent.succeeded for its PaymentIntent; both give the
	// PaymentIntent id as invoice id, so the outbox counts the purchase once.
	// A subscription-mode session has no PaymentIntent and gives its first
	// invoice instead.
	"stripe": {
		Name: "stripe",
		Body: "request",
		Fields: map[Field][]string{
			// The shop's tag in metadata, under any platform's name, comes
			// before client_reference_id, which Stripe describes as "a
			// customer ID, a cart ID, or similar" (Dub's own Stripe guide
			// puts a team id there). A client_reference_id of dub_id_… is
			// Dub's Stripe convention for a click, never a customer. The
			// session's customer (cus_…) is Stripe's and is never read.
			FieldCustomerID: append(keyed("data.object.metadata.%s", customerKeys),
				`[@this]|#(data.object.client_reference_id!%"dub_id_*")|data.object.client_reference_id`),
			// A completed session always has customer_details.email (Checkout
			// collects it; customer_email only prefills it). A PaymentIntent
			// has neither, only the receipt_email and shipping the shop set.
			FieldEmail:    {"data.object.customer_details.email", "data.object.receipt_email"},
			FieldName:     {"data.object.customer_details.name", "data.object.shipping.name"},
			FieldCurrency: {"data.object.currency"},
			FieldAmount:   {"data.object.amount_total", "data.object.amount_received"},
			// Stripe's minor units follow ISO 4217 except for ISK, which
			// its API keeps two-decimal (100 is 1 króna), and MGA, which it
			// treats as zero-decimal. Each path yields [2] or [0] for that
			// currency only and nothing otherwise, so every other currency
			// keeps its ISO digits.
			FieldAmountDigits: {
				`[@this]|#(data.object.currency=="isk")#|#.!2`,
				`[@this]|#(data.object.currency=="mga")#|#.!0`,
			},
			FieldInvoiceID: {"data.object.payment_intent", "data.object.invoice", "data.object.id"},
			FieldClickID:   keyed("data.object.metadata.%s", clickKeys),
			// The Checkout Session's id, which the shop's checkout_ref
			// route saw in its response (the id, or the Checkout URL that
			// holds it); for a PaymentIntent, its own id, which a shop
			// creating intents returns (or its client secret).
			FieldRef: {"data.object.id", "data.object.payment_intent"},
			// The event's creation time: for a delayed payment, when it
			// succeeded rather than when the session was opened.
			FieldTimestamp: {"created"},
		},
		AmountUnit: fx.Minor,
		When: []Condition{
			{Path: "type", Values: []string{"checkout.session.completed", "checkout.session.async_payment_succeeded", "payment_intent.succeeded"}},
			// A session's payment_status must be paid (not unpaid, not
			// no_payment_required); a PaymentIntent has no payment_status,
			// so its status is read instead.
			{Path: "[data.object.payment_status,data.object.status]|0", Values: []string{"paid", "succeeded"}},
			// A PaymentIntent counts only when the shop tagged it with a
			// customer id. Untagged ones are the PaymentIntent of a Checkout
			// Session whose own event carries the sale, or a subscription
			// renewal: not a sale of this webhook, rather than a sale with
			// its customer missing. Sessions always pass here, so a session
			// without a customer id is still rejected loudly.
			{
				Path:   anyValue([]string{onlyIf("data.object.object", "checkout.session")}, keyed("data.object.metadata.%s", customerKeys)),
				Reason: "untagged_intent",
			},
		},
		ObjectID: []string{"data.object.id"},
	},

	// Shopify's orders/paid webhook (REST order resource). The topic is only
	// in the X-Shopify-Topic header, which conditions cannot read, so the
	// preset relies on financial_status and belongs on the route that
	// receives orders/paid.
	"shopify": {
		Name: "shopify",
		Body: "request",
		Fields: map[Field][]string{
			// Cart attributes set by the storefront become note_attributes.
			// customer.id is Shopify's own customer, which no lead event
			// could have known: it is never read.
			FieldCustomerID: keyed(`note_attributes.#(name=="%s").value`, customerKeys),
			// An order whose buyer gave a phone number as contact has no
			// email of its own; the customer it was matched to may have one.
			// contact_email is not read: it is the order's email again.
			FieldEmail: {"email", "customer.email"},
			// An order need not have a customer (Shopify POS): the billing
			// address still names the buyer.
			FieldName: {"[customer.first_name,customer.last_name]", "billing_address.name"},
			// The shop's currency and amounts in it (not the presentment
			// currency the buyer saw); current_total_price reflects order
			// edits made before payment. Every order carries currency,
			// current_total_price, id and processed_at (which defaults to
			// created_at), so nothing stands behind them.
			FieldCurrency:  {"currency"},
			FieldAmount:    {"current_total_price"},
			FieldInvoiceID: {"id"},
			FieldClickID:   keyed(`note_attributes.#(name=="%s").value`, clickKeys),
			FieldTimestamp: {"processed_at"},
		},
		AmountUnit: fx.Major,
		When: []Condition{
			{Path: "financial_status", Values: []string{"paid"}},
			// A free order (100% discount) is paid but carries no money.
			{Path: "total_price|@fromstr"},
		},
		ObjectID: []string{"id"},
	},

	// Paddle Billing's transaction.completed webhook.
	"paddle": {
		Name: "paddle",
		Body: "request",
		Fields: map[Field][]string{
			// custom_data is the shop's own key-value data, passed to
			// Paddle.js or the API when the transaction is created. The
			// payload carries no customer email or name, only Paddle's ctm_
			// id, which is not the shop's.
			FieldCustomerID: keyed("data.custom_data.%s", customerKeys),
			// Every transaction has currency_code, id and grand_total, and
			// every event occurred_at: no fallback could be reached.
			FieldCurrency: {"data.currency_code"},
			// grand_total is after discount, tax and credit, before
			// payments: what the customer paid. A string in the currency's
			// lowest denomination.
			FieldAmount:    {"data.details.totals.grand_total"},
			FieldInvoiceID: {"data.id"},
			FieldClickID:   keyed("data.custom_data.%s", clickKeys),
			// The transaction the shop created and opened the checkout
			// with (its id, or a checkout URL with ?_ptxn=).
			FieldRef:       {"data.id"},
			FieldTimestamp: {"occurred_at"},
		},
		AmountUnit: fx.Minor,
		When: []Condition{
			// The event is the transaction's change to status completed,
			// and its data is the transaction at that moment: its status is
			// always completed, so the event type says it all.
			{Path: "event_type", Values: []string{"transaction.completed"}},
			// A free-trial checkout completes a zero transaction.
			{Path: "data.details.totals.grand_total|@fromstr"},
			// A transaction Paddle started itself (a renewal, a proration,
			// a charge on a subscription) counts only when it carries the
			// shop's customer id; one the shop started (origin web or api)
			// always passes here, so an untagged checkout is rejected
			// loudly rather than dropped.
			{Path: anyValue([]string{onlyIf("data.origin", "web"), onlyIf("data.origin", "api")}, keyed("data.custom_data.%s", customerKeys))},
		},
		ObjectID: []string{"data.id"},
	},

	// Lemon Squeezy's order_created webhook (a JSON:API order resource).
	"lemonsqueezy": {
		Name: "lemonsqueezy",
		Body: "request",
		Fields: map[Field][]string{
			// checkout[custom][...] on the checkout link, or
			// checkout_data.custom through the API, arrives as
			// meta.custom_data. The order's own customer_id is Lemon
			// Squeezy's and is never read.
			FieldCustomerID: keyed("meta.custom_data.%s", customerKeys),
			FieldEmail:      {"data.attributes.user_email"},
			FieldName:       {"data.attributes.user_name"},
			FieldCurrency:   {"data.attributes.currency"},
			FieldAmount:     {"data.attributes.total"},
			// Every order has its UUID identifier.
			FieldInvoiceID: {"data.attributes.identifier"},
			FieldClickID:   keyed("meta.custom_data.%s", clickKeys),
			FieldTimestamp: {"data.attributes.created_at"},
		},
		AmountUnit: fx.Minor,
		When: []Condition{
			{Path: "meta.event_name", Values: []string{"order_created"}},
			{Path: "data.attributes.status", Values: []string{"paid"}},
			// A free product or a 100% discount makes a paid order of 0.
			{Path: "data.attributes.total"},
		},
		// The order's id in Lemon Squeezy's API and dashboard.
		ObjectID: []string{"data.id"},
	},

	// Medusa v2's storefront cart completion, POST /store/carts/{id}/complete:
	// {"type":"order","order":{...}} when an order was placed; a 200
	// {"type":"cart","cart":{...},"error":{...}} only when the payment
	// provider threw; a 400 {"type":"not_allowed",...} when it refused the
	// authorisation. v1 answered {"type":"order","data":{...}} in minor
	// units and does not match.
	"medusa": {
		Name: "medusa",
		Body: "response",
		Fields: map[Field][]string{
			// Medusa's customer (v2 creates one for guests too, per email):
			// the id its own registration answers, which medusa_customer
			// sends as the lead's. The route answers it only when the
			// storefront asks (?fields=+customer_id). The order's metadata
			// is never answered on this route, so no tag can be read here.
			FieldCustomerID: {"order.customer_id"},
			FieldEmail:      {"order.email"},
			// A cart may be completed with only one of the two addresses
			// (no billing address, or no shipping for digital goods).
			FieldName: {
				"[order.billing_address.first_name,order.billing_address.last_name]",
				"[order.shipping_address.first_name,order.shipping_address.last_name]",
			},
			FieldCurrency: {"order.currency_code"},
			FieldAmount:   {"order.total"},
			// order.id is a condition, so nothing behind it is ever read.
			FieldInvoiceID: {"order.id"},
			FieldClickID:   slices.Clone(browserClick),
			FieldTimestamp: {"order.created_at"},
			// POST /store/carts/{id}/complete: the cart id, which
			// click_cookie's bind saw with the browser's click and
			// checkout_ref medusa with the cart's customer. A storefront's
			// server completes the cart without the browser's cookies.
			FieldRef: {"{http.request.uri.path.2}"},
		},
		AmountUnit: fx.Major,
		When: []Condition{
			{Path: "type", Values: []string{"order"}},
			{Path: "order.id"},
			// A zero total is not a sale; a total the response lacks is left
			// for the amount field to reject loudly (the literal 1 stands in
			// for it here).
			{Path: "[order.total,!1]|0"},
		},
		ObjectID: []string{"order.id"},
	},

	// Saleor's checkoutComplete GraphQL mutation, as the storefront's own
	// query selects it (unaliased). An order exists only once payment is
	// confirmed: with confirmationNeeded, or with errors, order is null.
	"saleor": {
		Name: "saleor",
		Body: "response",
		Fields: map[Field][]string{
			// Checkout metadata (and checkoutComplete's metadata argument)
			// is copied to the order; user.id is Saleor's customer, null for
			// a guest.
			FieldCustomerID: append(keyed(`data.checkoutComplete.order.metadata.#(key=="%s").value`, customerKeys),
				"data.checkoutComplete.order.user.id"),
			// Saleor answers userEmail with the user's own email when there
			// is a user, so user.email could only repeat it.
			FieldEmail: {"data.checkoutComplete.order.userEmail"},
			// Saleor does not require names on an address; a signed-in
			// buyer's account may have them.
			FieldName: {
				"[data.checkoutComplete.order.billingAddress.firstName,data.checkoutComplete.order.billingAddress.lastName]",
				"[data.checkoutComplete.order.user.firstName,data.checkoutComplete.order.user.lastName]",
			},
			FieldCurrency: {"data.checkoutComplete.order.total.gross.currency"},
			FieldAmount:   {"data.checkoutComplete.order.total.gross.amount"},
			// order.id is a condition, so nothing behind it is ever read.
			FieldInvoiceID: {"data.checkoutComplete.order.id"},
			FieldClickID: slices.Concat(keyed(`data.checkoutComplete.order.metadata.#(key=="%s").value`, clickKeys),
				browserClick),
			FieldTimestamp: {"data.checkoutComplete.order.created"},
		},
		AmountUnit: fx.Major,
		When: []Condition{
			{Path: "data.checkoutComplete.confirmationNeeded", Values: []string{"false"}},
			{Path: "data.checkoutComplete.order.id"},
			{Path: "[data.checkoutComplete.order.total.gross.amount,!1]|0"},
		},
		ObjectID: []string{"data.checkoutComplete.order.id"},
	},

	// Medusa v2's customer registration, POST /store/customers, which the
	// storefront sends with the registration token once the auth identity
	// exists. It answers {"customer":{...}}; a refusal is an error object
	// (422 duplicate_error, 400 invalid_data) without a customer.
	"medusa_customer": {
		Name: "medusa_customer",
		Kind: KindLead,
		Body: "response",
		Fields: map[Field][]string{
			// The id the medusa preset reads as the order's customer_id, so
			// the sale ties to this lead.
			FieldCustomerID: {"customer.id"},
			FieldEmail:      {"customer.email"},
			FieldName:       {"[customer.first_name,customer.last_name]"},
			// The metadata the storefront registered the customer with (a
			// storefront that registers from its server has no cookie to
			// pass on), then the browser's click.
			FieldClickID:   slices.Concat(keyed("customer.metadata.%s", clickKeys), browserClick),
			FieldTimestamp: {"customer.created_at"},
		},
		When: []Condition{{Path: "customer.id"}},
	},

	// Saleor's accountRegister GraphQL mutation, as the storefront's own
	// query selects it (unaliased). A refused registration answers errors
	// and a null user. Saleor 3.21 and later never answer the new user's
	// id (user.id is "", against account enumeration): there every
	// registration is rejected for want of a customer id, loudly.
	"saleor_register": {
		Name: "saleor_register",
		Kind: KindLead,
		Body: "response",
		Fields: map[Field][]string{
			// The id the saleor preset reads as the order's user.id.
			FieldCustomerID: {"data.accountRegister.user.id"},
			FieldEmail:      {"data.accountRegister.user.email"},
			FieldName:       {"[data.accountRegister.user.firstName,data.accountRegister.user.lastName]"},
			// accountRegister takes the user's public metadata, which the
			// storefront can fill with the click.
			FieldClickID: slices.Concat(keyed(`data.accountRegister.user.metadata.#(key=="%s").value`, clickKeys),
				browserClick),
			FieldTimestamp: {"data.accountRegister.user.dateJoined"},
		},
		When: []Condition{{Path: "data.accountRegister.user"}},
	},

	// Clerk's user.created webhook (delivered through Svix, signed with
	// Standard Webhooks): a sign-up by any method, or a user created
	// through Clerk's Backend API.
	"clerk": {
		Name: "clerk",
		Kind: KindLead,
		Body: "request",
		Fields: map[Field][]string{
			// external_id is the shop's own id when it set one; otherwise
			// the Clerk user id is the one the shop's app knows its users by.
			FieldCustomerID: {"data.external_id", "data.id"},
			// A new user's addresses are the ones it signed up with: the
			// first is its primary.
			FieldEmail: {"data.email_addresses.0.email_address"},
			FieldName:  {"[data.first_name,data.last_name]"},
			// A webhook carries no cookie: the click travels as the
			// sign-up's unsafeMetadata, which Clerk copies to the user.
			FieldClickID:   keyed("data.unsafe_metadata.%s", clickKeys),
			FieldTimestamp: {"data.created_at"},
		},
		When: []Condition{{Path: "type", Values: []string{"user.created"}}},
	},
}

// kind is what the preset reads: a sale unless it says lead.
func (p *Preset) kind() string {
	if p.Kind == KindLead {
		return KindLead
	}
	return KindSale
}

// LookupPreset finds a preset by name. It returns a copy the caller may
// modify; an unknown name is an error that lists the known ones.
func LookupPreset(name string) (*Preset, error) {
	p, ok := presetRegistry[name]
	if !ok {
		return nil, unknownPresetError(name)
	}
	return p.clone(), nil
}

func unknownPresetError(name string) error {
	return fmt.Errorf("unknown preset %q (known: %s)", name, strings.Join(PresetNames(), ", "))
}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presetRegistry))
	for name := range presetRegistry {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (p *Preset) clone() *Preset {
	c := *p
	c.Fields = make(map[Field][]string, len(p.Fields))
	for k, v := range p.Fields {
		c.Fields[k] = append([]string(nil), v...)
	}
	c.When = cloneConditions(p.When)
	c.ObjectID = append([]string(nil), p.ObjectID...)
	return &c
}

func cloneConditions(in []Condition) []Condition {
	if in == nil {
		return nil
	}
	out := make([]Condition, len(in))
	for i, c := range in {
		out[i] = Condition{Path: c.Path, Values: append([]string(nil), c.Values...), Reason: c.Reason}
	}
	return out
}
