package sale

import (
	"strings"

	"github.com/saletrack/caddy-saletrack/internal/jsonwrite"
)

// dub speaks Dub's tracking API.
//
// Sources: the API reference (dub.co/docs/api-reference/endpoint/track-sale
// and track-lead, whose OpenAPI is dub.co/docs/api-reference/track/sale.md),
// the deferred lead guide (dub.co/docs/conversions/leads/deferred), the
// direct sale guide (dub.co/docs/conversions/sales/direct), the Go SDK
// (dubinc/dub-go models/operations/tracksale.go and tracklead.go, whose
// field order the bodies follow) and the open-source server that answers
// them (dubinc/dub apps/web/lib/zod/schemas/sales.ts and leads.ts, the
// schemas every request is parsed with; lib/api/conversions/track-sale.ts
// and track-lead.ts; lib/analytics/convert-currency.ts).
var dub = Platform{
	Name:        "dub",
	APIBase:     "https://api.dub.co",
	SalePath:    "/track/sale",
	LeadPath:    "/track/lead",
	ClickParam:  "dub_id",
	ClickCookie: "dub_id",
	SaleEvent:   "Purchase", // the schema's default
	LeadEvent:   "Sign up",  // the reference's example
	sale:        appendDubSale,
	lead:        appendDubLead,
	saleRules:   dubSaleRules,
	leadRules:   dubLeadRules,
	// Dub takes no timestamp: it records the time a request arrives.
}

// dubMaxName is the most characters Dub takes in customerName and
// customerEmail, and dubMaxCustomerID in customerExternalId; dubMaxEvent
// in eventName (the schemas in sales.ts and leads.ts).
const (
	dubMaxName       = 100
	dubMaxCustomerID = 100
	dubMaxEvent      = 255
)

// The sources rules name in their reasons.
const (
	dubSaleSchema = "Dub (track/sale schema)"
	dubLeadSchema = "Dub (track/lead schema)"
)

// What Dub refuses: its server parses every body with the zod schemas in
// apps/web/lib/zod/schemas/sales.ts (trackSaleRequestSchema) and leads.ts
// (trackLeadRequestSchema) and answers 422 to what they reject.
//
// Not refused, because only Dub knows the answer: a lead without a click
// id (for the follow-up of a deferred sign-up Dub looks up the customer's
// stored click, and answers 400 only when it has none, track-lead.ts), a
// sale or lead whose click id Dub does not know (404), and a sale for a
// customer Dub does not know and without a click id (recorded as nothing,
// with a 200). An amount of 0 is taken and not recorded.
var (
	dubSaleRules = []rule{
		// customerExternalId: trim, min 1, max 100.
		lengthRule("customerExternalId", customerOf, true, 1, dubMaxCustomerID, dubSaleSchema),
		// eventName: max 255 (not trimmed for sales).
		lengthRule("eventName", nameSent, false, 0, dubMaxEvent, dubSaleSchema),
		// amount: int, min 0 ("amount cannot be negative").
		nonNegativeAmountRule(dubSaleSchema),
	}
	dubLeadRules = []rule{
		// customerExternalId: trim, min 1, max 100; the route's fallback to
		// the deprecated externalId and customerId fields is not used.
		lengthRule("customerExternalId", customerOf, true, 1, dubMaxCustomerID, dubLeadSchema),
		// eventName: trim, min 1, max 255.
		lengthRule("eventName", nameSent, true, 1, dubMaxEvent, dubLeadSchema),
		// mode: enum async, wait, deferred (async when left out).
		oneOfRule("mode", modeOf, dubLeadSchema, "async", "wait", ModeDeferred),
	}
)

// dubPaymentProcessors is the schema's paymentProcessor enum (sales.ts;
// dub-go's PaymentProcessor): a value outside it is refused, so anything
// else is sent as "custom", the schema's default.
var dubPaymentProcessors = map[string]bool{
	"stripe": true, "shopify": true, "polar": true, "paddle": true,
	"apple": true, "revenuecat": true, "dub": true, "custom": true,
}

// dubPaymentProcessor is the event's processor in Dub's enum, else
// "custom".
func dubPaymentProcessor(ev *Event) string {
	if p := strings.ToLower(ev.PaymentProcessor); dubPaymentProcessors[p] {
		return p
	}
	return "custom"
}

// dubZeroDecimal lists the currencies whose amount Dub takes in whole
// units (dubinc/dub packages/utils/src/functions/currency-zero-decimal.ts,
// Stripe's list). Every other currency is taken in hundredths: the
// reference says "in cents (for all two-decimal currencies)", and
// convert-currency.ts divides every other currency's amount by the rate
// as cents. So KWD, with three ISO digits, goes in hundredths (KWD 1.250
// is 125: in thousandths Dub would count ten times the sale), and ISK,
// with none, in hundredths too (ISK 1000 is 100000).
var dubZeroDecimal = map[string]bool{
	"BIF": true, "CLP": true, "DJF": true, "GNF": true, "JPY": true, "KMF": true,
	"KRW": true, "MGA": true, "PYG": true, "RWF": true, "UGX": true, "VND": true,
	"VUV": true, "XAF": true, "XOF": true, "XPF": true,
}

// dubUnitDigits is how many decimals Dub's integer amount stands for in
// the currency: 0 or 2.
func dubUnitDigits(code string) uint8 {
	if dubZeroDecimal[code] {
		return 0
	}
	return 2
}

// appendDubSale writes trackSaleRequestSchema's fields in dub-go's order:
// the amount an integer in Dub's unit of the currency (dubUnitDigits),
// the currency in lower case as Dub stores it (the schema lower-cases it;
// its default is "usd"), and clickId whenever the sale has one: for a
// customer Dub does not know yet it is the direct sale guide's click, and
// for one it knows, the server attributes the sale to that click's link
// (track-sale.ts). customerName and customerEmail, taken only for direct
// sales, are not sent: an email Dub's schema refuses would cost the sale,
// and the lead carries them.
func appendDubSale(dst []byte, w *wireEvent) []byte {
	code := w.amount.CurrencyCode()
	dst = append(dst, `{"customerExternalId":`...)
	dst = jsonwrite.String(dst, w.CustomerExternalID)
	dst = append(dst, `,"amount":`...)
	dst = append(dst, minorUnits(w.amount, dubUnitDigits(code))...)
	dst = member(dst, "currency", strings.ToLower(code))
	dst = member(dst, "eventName", w.name)
	dst = member(dst, "paymentProcessor", dubPaymentProcessor(w.Event))
	dst = jsonwrite.Optional(dst, "invoiceId", w.InvoiceID)
	dst = jsonwrite.Optional(dst, "clickId", w.ClickID)
	return append(dst, '}')
}

// appendDubLead writes trackLeadRequestSchema's fields in dub-go's order.
// clickId is always there: empty, it is the follow-up of a deferred
// sign-up ("setting the clickId property to an empty string", the
// deferred lead guide). A name or email Dub would refuse is left out, and
// mode is sent only when set.
func appendDubLead(dst []byte, w *wireEvent) []byte {
	dst = append(dst, `{"clickId":`...)
	dst = jsonwrite.String(dst, w.ClickID)
	dst = member(dst, "eventName", w.name)
	dst = member(dst, "customerExternalId", w.CustomerExternalID)
	dst = jsonwrite.Optional(dst, "customerName", optionalName(w.CustomerName, dubMaxName))
	dst = jsonwrite.Optional(dst, "customerEmail", optionalEmail(w.CustomerEmail, dubMaxName))
	dst = jsonwrite.Optional(dst, "mode", w.Mode)
	return append(dst, '}')
}
