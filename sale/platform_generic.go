package sale

import (
	"time"

	"github.com/bojanz/currency"

	"github.com/saletrack/caddy-saletrack/fx"
	"github.com/saletrack/caddy-saletrack/internal/jsonwrite"
)

// generic is the Sale Track page's example payload, for a receiver the
// shop runs itself: no hosted API, so no base URL (sales go to the
// configured endpoint, leads to the lead endpoint), the click named
// clickId, and nothing refused: the shop's receiver decides.
var generic = Platform{
	Name:        "generic",
	SalePath:    "/track/sale",
	LeadPath:    "/track/lead",
	ClickParam:  "clickId",
	ClickCookie: "clickId",
	SaleEvent:   "sale",
	LeadEvent:   "lead",
	sale: func(dst []byte, w *wireEvent) []byte {
		return appendGenericSale(dst, w.Event, w.name, WireAmount(w.amount), w.ts)
	},
	lead: appendGenericLead,
}

// appendGenericSale writes a sale in the Sale Track page's example's
// fields and order, with the given name, amount and time: Event.Payload's
// body, and the generic profile's, whose amount is rounded.
func appendGenericSale(dst []byte, e *Event, name string, amount currency.Amount, ts time.Time) []byte {
	dst = appendGenericHead(dst, e, name, ts)
	dst = append(dst, `,"currency":`...)
	dst = jsonwrite.String(dst, amount.CurrencyCode())
	dst = append(dst, `,"amount":`...)
	dst = append(dst, fx.JSONNumber(amount)...)
	dst = jsonwrite.Optional(dst, "invoiceId", e.InvoiceID)
	dst = jsonwrite.Optional(dst, "clickId", e.ClickID)
	return append(dst, '}')
}

// appendGenericLead writes a lead in the sale's shape without its amount,
// currency and invoice, and with mode when set.
func appendGenericLead(dst []byte, w *wireEvent) []byte {
	dst = appendGenericHead(dst, w.Event, w.name, w.ts)
	dst = jsonwrite.Optional(dst, "clickId", w.ClickID)
	dst = jsonwrite.Optional(dst, "mode", w.Mode)
	return append(dst, '}')
}

// appendGenericHead opens the object with the fields a sale and a lead
// share, in the page's order.
func appendGenericHead(dst []byte, e *Event, name string, ts time.Time) []byte {
	dst = append(dst, `{"event":`...)
	dst = jsonwrite.String(dst, name)
	dst = append(dst, `,"timestamp":"`...)
	dst = ts.UTC().AppendFormat(dst, TimestampLayout)
	dst = append(dst, `","customerExternalId":`...)
	dst = jsonwrite.String(dst, e.CustomerExternalID)
	dst = jsonwrite.Optional(dst, "email", e.CustomerEmail)
	return jsonwrite.Optional(dst, "name", e.CustomerName)
}
