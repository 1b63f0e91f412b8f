package sale

import (
	"encoding/json"
	"time"

	"github.com/bojanz/currency"

	"github.com/saletrack/caddy-saletrack/fx"
)

// TimestampLayout is how the platform wants times: RFC 3339, UTC, milliseconds.
const TimestampLayout = "2006-01-02T15:04:05.000Z"

// Event is one captured sale: the platform's Sale Track fields plus what
// the proxy needs to deliver it once and to explain it later.
type Event struct {
	// ID is unique per captured sale and is sent as the Idempotency-Key on
	// every delivery attempt. It is derived from the invoice id when there is
	// one, so a sale captured twice carries the same key.
	ID string `json:"id"`

	Event              string          `json:"event"`
	Timestamp          time.Time       `json:"timestamp"`
	CustomerExternalID string          `json:"customerExternalId"`
	Email              string          `json:"email,omitempty"`
	Name               string          `json:"name,omitempty"`
	Amount             currency.Amount `json:"amount"`
	InvoiceID          string          `json:"invoiceId,omitempty"`
	ClickID            string          `json:"clickId,omitempty"`

	// Route names where the sale was captured (the site and path), for logs.
	Route string `json:"route,omitempty"`
	// CapturedAt is when the proxy saw the sale.
	CapturedAt time.Time `json:"capturedAt"`
	// USD is the sale normalised to USD, when a rate was known.
	USD *USDValue `json:"usd,omitempty"`
}

// USDValue is a sale's amount in USD and the rate that produced it.
type USDValue struct {
	Amount currency.Amount `json:"amount"`
	// Rate is USD per unit of the sale's currency, as an exact decimal;
	// empty for a sale already in USD.
	Rate string `json:"rate,omitempty"`
	// Date is the publication date (YYYY-MM-DD) of the rate used.
	Date string `json:"date,omitempty"`
}

// Currency is the sale's ISO 4217 code.
func (e *Event) Currency() string { return e.Amount.CurrencyCode() }

// Payload is the JSON body the platform's Sale Track API receives: its
// fields in its order, optional ones omitted when empty, the amount an exact
// JSON number in major units. With sendUSD and a known USD value, the
// amount is the converted one and the currency USD.
func (e *Event) Payload(sendUSD bool) []byte {
	amount := e.Amount
	if sendUSD && e.USD != nil {
		amount = e.USD.Amount
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"event":`...)
	b = appendJSONString(b, e.Event)
	b = append(b, `,"timestamp":"`...)
	b = e.Timestamp.UTC().AppendFormat(b, TimestampLayout)
	b = append(b, `","customerExternalId":`...)
	b = appendJSONString(b, e.CustomerExternalID)
	b = appendOptional(b, "email", e.Email)
	b = appendOptional(b, "name", e.Name)
	b = append(b, `,"currency":`...)
	b = appendJSONString(b, amount.CurrencyCode())
	b = append(b, `,"amount":`...)
	b = append(b, fx.JSONNumber(amount)...)
	b = appendOptional(b, "invoiceId", e.InvoiceID)
	b = appendOptional(b, "clickId", e.ClickID)
	return append(b, '}')
}

// MarshalRecord encodes the whole event, bookkeeping included, for the
// outbox, as json.Marshal would. UnmarshalRecord reads it back.
func (e *Event) MarshalRecord() ([]byte, error) { return e.appendRecordJSON(make([]byte, 0, 512)) }

// UnmarshalRecord decodes an event written by MarshalRecord.
func UnmarshalRecord(data []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, err
	}
	return &e, nil
}
