package sale

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/bojanz/currency"

	"github.com/saletrack/caddy-saletrack/internal/jsonwrite"
)

// TimestampLayout is how the platform wants times: RFC 3339, UTC, milliseconds.
const TimestampLayout = "2006-01-02T15:04:05.000Z"

// Event is one captured sale or lead: the platform's fields plus what
// the proxy needs to deliver it once and to explain it later.
type Event struct {
	// ID is unique per captured sale and is sent as the Idempotency-Key on
	// every delivery attempt. It is derived from the invoice id when there is
	// one, so a sale captured twice carries the same key.
	ID string `json:"id"`

	EventName          string          `json:"event"`
	Timestamp          time.Time       `json:"timestamp"`
	CustomerExternalID string          `json:"customerExternalId"`
	CustomerEmail      string          `json:"email,omitempty"`
	CustomerName       string          `json:"name,omitempty"`
	Amount             currency.Amount `json:"amount"`
	InvoiceID          string          `json:"invoiceId,omitempty"`
	ClickID            string          `json:"clickId,omitempty"`

	// Kind is KindLead for a lead; empty or KindSale is a sale, so records
	// written before leads existed read back as the sales they are. Empty
	// for a sale keeps a sale's record as it always was.
	Kind string `json:"kind,omitempty"`
	// Mode is a lead's attribution mode: ModeDeferred on the first event
	// of a two-step sign-up, empty otherwise.
	Mode string `json:"mode,omitempty"`
	// PaymentProcessor names the provider that took the payment ("stripe",
	// "paddle"…), from the preset; empty when unknown. Dub records it.
	PaymentProcessor string `json:"paymentProcessor,omitempty"`

	// Route names where the sale was captured (the site and path), for logs.
	Route string `json:"route,omitempty"`
	// CapturedAt is when the proxy saw the sale.
	CapturedAt time.Time `json:"capturedAt"`
	// USD is the sale normalised to USD, when a rate was known.
	USD *USDValue `json:"usd,omitempty"`

	// DedupOverride is the dedup key when it is not the invoice id: a hash
	// of an invoice id longer than InvoiceID may be, or a lead's key (see
	// DedupKey). It is stored, so an event moved to another outbox dedups
	// there as it did here.
	DedupOverride string `json:"dedupKey,omitempty"`

	// Origin records where the customer id and the click id came from:
	// the body, a placeholder, or the binding. Nil for a record written
	// before origins were kept.
	Origin *Origin `json:"origin,omitempty"`

	// Refs are the provider's checkout references the body carried, for
	// the binding to find the checkout's click and customer by. Not
	// stored: they are used at capture only.
	Refs []string `json:"-"`

	// Repairs lists the fields whose captured value could not be used and
	// what stood in for it, for the capture to log and count. They are not
	// stored: a repair is reported once, when the sale is captured.
	Repairs []Repair `json:"-"`
}

// The event kinds Event.Kind holds.
const (
	// KindSale is a sale; an empty Kind is one too.
	KindSale = "sale"
	// KindLead is a lead: a sign-up tying the customer to the click.
	KindLead = "lead"
)

// ModeDeferred is the lead mode of the first event of a two-step sign-up:
// the platform stores the click for the customer and a later event without
// a click id is attributed through it (both CutMeShort and Dub).
const ModeDeferred = "deferred"

// IsLead reports whether the event is a lead rather than a sale.
func (e *Event) IsLead() bool { return e.Kind == KindLead }

// Repair says that a field's captured value could not be used, and why.
type Repair struct {
	Field  Field
	Reason string
}

// setInvoiceKey derives the sale's id and dedup key from its whole invoice
// id, so that long ids sharing their first MaxFieldLength characters stay
// distinct sales.
func (e *Event) setInvoiceKey(invoice string) {
	e.ID = EventID(invoice)
	if invoice != e.InvoiceID {
		e.DedupOverride = derivedKey("invoice", invoice)
	}
}

// setLeadKey derives a lead's id and dedup key from its customer, event
// name and mode: a platform counts a customer's sign-up once (Dub's rule),
// so the proxy sends it once; the deferred first step of a sign-up and the
// step that completes it are two events.
func (e *Event) setLeadKey() {
	e.DedupOverride = derivedKey("lead", e.CustomerExternalID+"\x00"+e.EventName+"\x00"+e.Mode)
	e.ID = "lead_" + e.DedupOverride[len(e.DedupOverride)-32:]
}

// derivedKey is a dedup key made from text: a NUL byte and the kind first,
// which no invoice id from JSON begins with, so it never meets one.
func derivedKey(kind, text string) string {
	sum := sha256.Sum256([]byte(text))
	return "\x00" + kind + ":" + hex.EncodeToString(sum[:])
}

// DedupKey is what the outbox dedups the sale on: the invoice id as sent
// (so an outbox written by an earlier version dedups alike), or for an id
// longer than MaxFieldLength characters a hash of all of it. Empty when
// the sale has no invoice id.
func (e *Event) DedupKey() string {
	if e.DedupOverride != "" {
		return e.DedupOverride
	}
	return e.InvoiceID
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

// Payload is the event as the Sale Track page's example writes it: its
// fields in its order, optional ones omitted when empty, the amount exactly
// as captured, an exact JSON number in major units, and the generic
// profile's event name when the event has none. With sendUSD and a known
// USD value, the amount is the converted one and the currency USD. A lead
// has the same shape without amount, currency and invoice. The generic
// profile sends this body with the amount rounded to its currency's digits
// (Platform.Payload); this one keeps it as captured, for the file sink.
func (e *Event) Payload(sendUSD bool) []byte {
	name := generic.EventName(e)
	if e.IsLead() {
		return appendGenericLead(make([]byte, 0, 256), &wireEvent{Event: e, name: name, ts: e.Timestamp})
	}
	return appendGenericSale(make([]byte, 0, 256), e, name, e.payAmount(sendUSD), e.Timestamp)
}

// payAmount is the amount a payload carries: the USD value with sendUSD
// when one is known, else the captured amount.
func (e *Event) payAmount(sendUSD bool) currency.Amount {
	if sendUSD && e.USD != nil {
		return e.USD.Amount
	}
	return e.Amount
}

// AppendRecord appends the whole event, bookkeeping included, as
// json.Marshal(e) writes it: the encoding the outbox stores. DecodeRecord
// reads it back.
func (e *Event) AppendRecord(dst []byte) ([]byte, error) {
	var err error
	dst = append(dst, `{"id":`...)
	dst = jsonwrite.String(dst, e.ID)
	dst = append(dst, `,"event":`...)
	dst = jsonwrite.String(dst, e.EventName)
	dst = append(dst, `,"timestamp":`...)
	if dst, err = jsonwrite.Time(dst, e.Timestamp); err != nil {
		return dst, err
	}
	dst = append(dst, `,"customerExternalId":`...)
	dst = jsonwrite.String(dst, e.CustomerExternalID)
	dst = jsonwrite.Optional(dst, "email", e.CustomerEmail)
	dst = jsonwrite.Optional(dst, "name", e.CustomerName)
	dst = append(dst, `,"amount":`...)
	dst = jsonwrite.Amount(dst, e.Amount)
	dst = jsonwrite.Optional(dst, "invoiceId", e.InvoiceID)
	dst = jsonwrite.Optional(dst, "clickId", e.ClickID)
	dst = jsonwrite.Optional(dst, "kind", e.Kind)
	dst = jsonwrite.Optional(dst, "mode", e.Mode)
	dst = jsonwrite.Optional(dst, "paymentProcessor", e.PaymentProcessor)
	dst = jsonwrite.Optional(dst, "route", e.Route)
	dst = append(dst, `,"capturedAt":`...)
	if dst, err = jsonwrite.Time(dst, e.CapturedAt); err != nil {
		return dst, err
	}
	if e.USD != nil {
		dst = append(dst, `,"usd":{"amount":`...)
		dst = jsonwrite.Amount(dst, e.USD.Amount)
		dst = jsonwrite.Optional(dst, "rate", e.USD.Rate)
		dst = jsonwrite.Optional(dst, "date", e.USD.Date)
		dst = append(dst, '}')
	}
	dst = jsonwrite.Optional(dst, "dedupKey", e.DedupOverride)
	dst = e.AppendOrigin(dst)
	return append(dst, '}'), nil
}

// DecodeRecord decodes an event written by AppendRecord, or by any earlier
// version: the record's JSON names never change. A lead carries no money,
// and its record's amount, {"number":"0","currency":""}, reads back as
// none (currency.Amount itself refuses an empty currency).
func DecodeRecord(data []byte) (*Event, error) {
	type fields Event // Event's fields, without its methods
	var e Event
	record := struct {
		*fields
		Amount json.RawMessage `json:"amount"`
	}{fields: (*fields)(&e)}
	if err := json.Unmarshal(data, &record); err != nil {
		return nil, err
	}
	var money struct{ Currency string }
	if len(record.Amount) == 0 || (json.Unmarshal(record.Amount, &money) == nil && money.Currency == "") {
		return &e, nil
	}
	if err := json.Unmarshal(record.Amount, &e.Amount); err != nil {
		return nil, err
	}
	return &e, nil
}

// ValidUTF8 reports whether every string of the event is valid UTF-8, so
// that its record reads back as the very same event.
func (e *Event) ValidUTF8() bool {
	for _, s := range []string{e.ID, e.EventName, e.CustomerExternalID, e.CustomerEmail, e.CustomerName, e.InvoiceID, e.ClickID,
		e.Kind, e.Mode, e.PaymentProcessor, e.Route} {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return e.USD == nil || (utf8.ValidString(e.USD.Rate) && utf8.ValidString(e.USD.Date))
}

// EventID is the Idempotency-Key for a sale: "sale_" and 32 hex digits of
// SHA-256 of the invoice id, so recapturing an invoice (a reloaded
// thank-you page, a proxy restart) yields the same key; a random one when
// there is no invoice id.
func EventID(invoiceID string) string {
	if invoiceID != "" {
		sum := sha256.Sum256([]byte(invoiceID))
		return "sale_" + hex.EncodeToString(sum[:16])
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "sale_" + hex.EncodeToString(b[:])
}
