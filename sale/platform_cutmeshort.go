package sale

import (
	"time"

	"github.com/saletrack/caddy-saletrack/fx"
	"github.com/saletrack/caddy-saletrack/internal/jsonwrite"
)

// cutMeShort speaks CutMeShort's tracking API as its official SDKs send it.
//
// Sources: the API reference (docs.cutmeshort.com/api-reference/endpoint/
// trackSale, trackLead, field, Sale, Lead) and the SDKs generated from its
// OpenAPI 1.0.0: Cut-Me-Short/cms-go (internal/models/model_sale_payload.go,
// model_lead_payload.go, internal/validation/validator.go,
// sdk/api_tracking.go, sdk/cms.go), Cut-Me-Short/cms-ts (src/client.ts,
// src/funcs/api.ts, src/validations/validation.ts,
// src/constants/constants.ts) and Cut-Me-Short/cms-python
// (src/cutmeshort/models/sale_payload.py, lead_payload.py).
//
// Where they disagree:
//   - The amount is a JSON number in major units, as the API reference's
//     example (99.99) and the Sale Track page's (199.0) write it. cms-go's
//     SalePayload and cms-python call it "Amount in cents", and cms-ts's
//     check wants a whole number while its README sends 49.99: those
//     contradict the reference and are not followed.
//   - A sale's clickId is required in the API reference and in cms-go's
//     model, optional on the Sale Track page, in cms-ts and in cms-python
//     ("may be omitted if attribution is resolved via a prior deferred lead
//     association"). It is sent whenever the sale has one and left out
//     otherwise (cms-go would send "", which attributes nothing), and a
//     sale without one is not refused.
//   - cms-go's validator (event names of [A-Za-z0-9_-] only, ids of the same
//     alphabet, amounts up to 999,999,999.99 with two decimals, a list of
//     about fifty currencies, timestamps at most 24 hours old) is called by
//     no send path of that SDK (sdk/cms.go, sdk/api_tracking.go), although
//     its README says every input is validated; the trackLead reference's
//     own example event name is "Sign up". None of it is refused here;
//     timestamps are moved instead (WireTimestamp).
var cutMeShort = Platform{
	Name:            "cutmeshort",
	APIBase:         "https://api.cme.sh",
	SalePath:        "/track/sale",
	LeadPath:        "/track/lead",
	ClickParam:      "cms_rf",
	ClickCookie:     "cms_rf",
	SaleEvent:       "sale",
	LeadEvent:       "sign_up",
	sale:            appendCutMeShortSale,
	lead:            appendCutMeShortLead,
	saleRules:       cutMeShortSaleRules,
	leadRules:       cutMeShortLeadRules,
	maxTimestampAge: 24 * time.Hour, // cms-go ValidateTimestamp
}

// cmsMaxLength is cms-ts's limit for ids, names, emails and lead event
// names (VALIDATION_CONSTRAINTS.STRING_FIELDS in src/constants/constants.ts),
// which its trackLead and trackSale check before sending.
const cmsMaxLength = 255

// The sources rules name in their reasons.
const (
	cmsSDK       = "CutMeShort (cms-ts)"
	cmsAPIAndSDK = "CutMeShort (API reference, cms-ts)"
)

// What CutMeShort refuses (the principle is Platform.Check's); what is
// not refused, and why, is in cutMeShort's comment. The limits are
// cms-ts's, which checks every body before it sends it
// (src/validations/validation.ts).
var (
	cutMeShortSaleRules = []rule{
		// Required by every source: the API reference, the Sale Track,
		// Lead and field pages ("do not create a new value at sale time")
		// and every SDK's model. cms-ts refuses more than 255 characters.
		lengthRule("customerExternalId", customerOf, false, 1, cmsMaxLength, cmsAPIAndSDK),
		// cms-ts SalePayloadSchema: invoiceId max 255. An empty one is
		// not refused: cms-ts refuses it, but the Sale Track page calls it
		// recommended and cms-go and cms-python send it unchecked.
		lengthRule("invoiceId", invoiceOf, false, 0, cmsMaxLength, cmsSDK),
		// cms-ts SalePayloadSchema: amount min 0.
		nonNegativeAmountRule(cmsSDK),
		// cms-ts: currency /^[A-Z]{3}$/; cms-python: exactly 3 characters.
		{field: "currency", refuse: func(ev *Event, _ string) string {
			if !isUpperAlpha3(ev.Currency()) {
				return "not three letters A-Z, but CutMeShort (cms-ts, cms-python) requires them"
			}
			return ""
		}},
	}
	cutMeShortLeadRules = []rule{
		// As for a sale; cms-ts's lead schema also refuses it empty.
		lengthRule("customerExternalId", customerOf, false, 1, cmsMaxLength, cmsAPIAndSDK),
		// cms-ts LeadPayloadSchema: eventName 1 to 255; the name sent is
		// never empty (the profile's default stands in).
		lengthRule("eventName", nameSent, false, 1, cmsMaxLength, cmsSDK),
		// The field reference ("Valid value: deferred"), cms-ts
		// (z.enum(["deferred"])) and cms-python (its mode validator).
		oneOfRule("mode", modeOf, "CutMeShort (field reference, cms-ts, cms-python)", ModeDeferred),
	}
)

// isUpperAlpha3 reports whether s is three letters A to Z.
func isUpperAlpha3(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// appendCutMeShortSale writes what cms-go's SalePayload.MarshalJSON
// writes: it marshals a map, so encoding/json sorts the keys, and this
// writes them in that order. The amount is exact (fx.JSONNumber of
// WireAmount), not cms-go's float64; optional fields are left out when
// empty or when CutMeShort's SDK would refuse them; customerAvatar is
// never captured.
func appendCutMeShortSale(dst []byte, w *wireEvent) []byte {
	amount := WireAmount(w.amount)
	start := len(dst)
	dst = append(dst, `,"amount":`...)
	dst = append(dst, fx.JSONNumber(amount)...)
	dst = jsonwrite.Optional(dst, "clickId", w.ClickID)
	dst = member(dst, "currency", amount.CurrencyCode())
	dst = appendCutMeShortWho(dst, w)
	dst = jsonwrite.Optional(dst, "invoiceId", w.InvoiceID)
	dst = memberTime(dst, "timestamp", w.ts)
	return closeObject(dst, start)
}

// appendCutMeShortLead writes what cms-go's LeadPayload.MarshalJSON
// writes, keys sorted alike. Without a clickId it is the follow-up event
// of a deferred sign-up, which CutMeShort attributes by
// customerExternalId; mode is sent only when set.
func appendCutMeShortLead(dst []byte, w *wireEvent) []byte {
	start := len(dst)
	dst = jsonwrite.Optional(dst, "clickId", w.ClickID)
	dst = appendCutMeShortWho(dst, w)
	dst = jsonwrite.Optional(dst, "mode", w.Mode)
	dst = memberTime(dst, "timestamp", w.ts)
	return closeObject(dst, start)
}

// appendCutMeShortWho writes the members a sale and a lead share, which
// sort together: who the customer is and what the event is called.
func appendCutMeShortWho(dst []byte, w *wireEvent) []byte {
	dst = jsonwrite.Optional(dst, "customerEmail", optionalEmail(w.CustomerEmail, cmsMaxLength))
	dst = member(dst, "customerExternalId", w.CustomerExternalID)
	dst = jsonwrite.Optional(dst, "customerName", optionalName(w.CustomerName, cmsMaxLength))
	return member(dst, "eventName", w.name)
}
