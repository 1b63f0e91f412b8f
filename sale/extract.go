package sale

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/saletrack/caddy-saletrack/fx"
)

// ErrMalformed means the body is not JSON: it is not a sale, and nothing
// about it is reported beyond a log line.
var ErrMalformed = errors.New("body is not valid JSON")

// MaxDepth bounds how deeply a body's arrays and objects may nest. No
// checkout or webhook comes near it, and validating a body of nothing but
// brackets costs far more than its size suggests.
const MaxDepth = 64

// ErrTooDeep means the body nests deeper than MaxDepth: it is not a sale.
var ErrTooDeep = fmt.Errorf("body nests deeper than %d levels", MaxDepth)

// utf8BOM is a byte-order mark some servers put before JSON; RFC 8259 lets
// a parser ignore it, and browsers do.
var utf8BOM = []byte("\xef\xbb\xbf")

// NotSaleError means a condition did not hold: the body is not a sale (an
// unpaid session, a refund event, a cart that is not complete). Such a body
// is not validated, so it may also be malformed.
type NotSaleError struct {
	// Condition is the first condition that did not hold, as written.
	Condition string
	// Reason is that condition's reason name, for a count (such as
	// "untagged_intent"); empty for most.
	Reason string
}

func (e *NotSaleError) Error() string { return "condition not met: " + e.Condition }

// RejectError means the body is a sale but cannot be reported: a required
// field is missing or a value is invalid. It is logged at WARN and counted;
// nothing is guessed in its place.
type RejectError struct {
	// Field is the config name of the field at fault ("amount", "customer_id").
	Field string
	// Reason says what was wrong, naming the source it was read from.
	Reason string
	// InvoiceID is whatever invoice id the body had, to find the sale by.
	InvoiceID string
	// Object is the provider's id of the paid object (a Checkout Session,
	// a transaction, an order), where the spec's preset says: the shop
	// looks the payment up by it.
	Object string
}

func (e *RejectError) Error() string { return e.Field + ": " + e.Reason }

// Filler completes a sale from what the proxy learned before it: a missing
// customer id or click id. It is called once the body's own fields are
// read, before a missing customer id rejects the sale, and records where
// what it filled came from (Event.SetOrigin).
type Filler func(ev *Event)

// Extract reads a sale from a JSON body and the request's placeholders.
// It returns ErrMalformed, a *NotSaleError or a *RejectError when the body
// does not make a valid sale. now is the capture time.
func (s *Spec) Extract(body []byte, resolve Resolver, now time.Time) (*Event, error) {
	return s.ExtractFilled(body, resolve, now, nil)
}

// ExtractFilled is Extract with fill, when not nil, completing a sale
// (never a lead) whose body lacks its customer id or click id.
func (s *Spec) ExtractFilled(body []byte, resolve Resolver, now time.Time, fill Filler) (*Event, error) {
	body = bytes.TrimPrefix(body, utf8BOM)
	if nestsDeeperThan(body, MaxDepth) {
		return nil, ErrTooDeep
	}
	// Conditions come before validation. Most responses on a route with
	// conditions are not sales, gjson reads only as far as each condition's
	// path, and validating reads the whole body. gjson does not fail on bad
	// JSON, it finds nothing or something; a body that meets its conditions
	// is validated before any field is read from it.
	if ok, failed := s.conditionsHold(body); !ok {
		return nil, &NotSaleError{Condition: failed.String(), Reason: failed.Reason}
	}
	var doc gjson.Result
	if len(body) > 0 {
		if !gjson.ValidBytes(body) {
			return nil, ErrMalformed
		}
		doc = gjson.ParseBytes(body)
	}

	ev := &Event{EventName: s.EventName, CapturedAt: now.UTC(), PaymentProcessor: s.PaymentProcessor}
	invoice := s.fullText(s.Sources[FieldInvoiceID], doc, resolve)
	ev.InvoiceID = capLength(invoice)
	ev.setInvoiceKey(invoice)
	reject := func(field Field, format string, args ...any) error {
		return &RejectError{Field: string(field), Reason: fmt.Sprintf(format, args...), InvoiceID: ev.InvoiceID,
			Object: s.text(s.ObjectID, doc, resolve)}
	}

	s.readParty(ev, doc, resolve)
	if fill != nil && s.Kind != KindLead {
		fill(ev)
	}
	if ev.CustomerExternalID == "" {
		// Never generated or guessed: a new id would break the lead-to-sale chain.
		missing := fmt.Sprintf("no source yielded a value (%s)", describe(s.Sources[FieldCustomerID]))
		if fill != nil {
			missing += ", and no binding knew the sale's email or reference"
		}
		return nil, reject(FieldCustomerID, "%s", missing)
	}
	if s.Kind == KindLead {
		ev.Kind, ev.Mode = KindLead, s.Mode
		ev.setLeadKey()
		s.readTimestamp(ev, doc, resolve, now)
		return ev, nil
	}

	code := s.DefaultCurrency
	if v, ok := first(s.Sources[FieldCurrency], doc, resolve); ok {
		c, err := fx.NormalizeCode(v.text)
		if err != nil {
			return nil, reject(FieldCurrency, "%v (%s)", err, describeOne(v.source))
		}
		code = strings.Clone(c) // not a slice of the body; see text
	}

	digits := -1
	if v, ok := first(s.Sources[FieldAmountDigits], doc, resolve); ok {
		n, err := strconv.Atoi(v.text)
		if err != nil || n < 0 || n > 18 {
			return nil, reject(FieldAmountDigits, "%q is not a number of digits from 0 to 18 (%s)", v.text, describeOne(v.source))
		}
		digits = n
	}

	v, ok := first(s.Sources[FieldAmount], doc, resolve)
	if !ok {
		return nil, reject(FieldAmount, "no source yielded a value (%s)", describe(s.Sources[FieldAmount]))
	}
	amount, err := fx.ParseAmount(v.text, code, s.AmountUnit, digits)
	if err != nil {
		return nil, reject(FieldAmount, "%v (%s)", err, describeOne(v.source))
	}
	if amount.IsNegative() {
		return nil, reject(FieldAmount, "%s is negative: refunds are not sales (%s)", v.text, describeOne(v.source))
	}
	ev.Amount = amount

	s.readTimestamp(ev, doc, resolve, now)
	return ev, nil
}

// readParty reads who bought and through which click: the customer id,
// email and name, and the click id, with where the customer id and the
// click id came from.
func (s *Spec) readParty(ev *Event, doc gjson.Result, resolve Resolver) {
	if v, ok := first(s.Sources[FieldCustomerID], doc, resolve); ok {
		ev.CustomerExternalID = capLength(textOf(v))
		ev.SetOrigin(FieldCustomerID, originOf(v.source))
	}
	ev.CustomerEmail = s.text(s.Sources[FieldEmail], doc, resolve)
	ev.CustomerName = s.text(s.Sources[FieldName], doc, resolve)
	if v, ok := s.clickID(doc, resolve); ok {
		ev.ClickID = strings.Clone(v.text)
		ev.SetOrigin(FieldClickID, originOf(v.source))
	}
	ev.Refs = readRefs(s.Sources[FieldRef], doc, resolve)
}

// readTimestamp reads the event's own time.
func (s *Spec) readTimestamp(ev *Event, doc gjson.Result, resolve Resolver, now time.Time) {
	// The sale's own time is recommended, not required: one that cannot be
	// read, or is no sane time for a sale, never costs the sale.
	ev.Timestamp = ev.CapturedAt.Truncate(time.Millisecond)
	if v, ok := first(s.Sources[FieldTimestamp], doc, resolve); ok {
		t, err := ParseTimestamp(v.text)
		if err == nil {
			err = checkTimestampWindow(t, now)
		}
		if err != nil {
			ev.Repairs = append(ev.Repairs, Repair{Field: FieldTimestamp,
				Reason: fmt.Sprintf("%v (%s); the capture time stands in", err, describeOne(v.source))})
		} else {
			ev.Timestamp = t
		}
	}
}

// clickID is the first click id a source yields that ValidClickID
// accepts: a cookie or a payload carries what anyone wrote there, and the
// platform gets only what a tracked link could have set.
func (s *Spec) clickID(doc gjson.Result, resolve Resolver) (value, bool) {
	for _, src := range s.Sources[FieldClickID] {
		if v, ok := read(src, doc, resolve); ok && ValidClickID(v.text) {
			return v, true
		}
	}
	return value{}, false
}

// text reads a string field, capped at MaxFieldLength characters.
func (s *Spec) text(sources []Source, doc gjson.Result, resolve Resolver) string {
	return capLength(s.fullText(sources, doc, resolve))
}

// fullText reads a string field whole, invalid UTF-8 replaced by U+FFFD as
// JSON will send it, so two values that are sent alike are alike here. It
// is a copy: gjson's results are slices of the whole body, and an event
// waits in memory for its first delivery, where it must not keep a 2 KB
// response alive for a 20-byte invoice id.
func (s *Spec) fullText(sources []Source, doc gjson.Result, resolve Resolver) string {
	v, ok := first(sources, doc, resolve)
	if !ok {
		return ""
	}
	return textOf(v)
}

// textOf is a value's text as fullText keeps it.
func textOf(v value) string {
	if !utf8.ValidString(v.text) {
		return strings.ToValidUTF8(v.text, "\uFFFD")
	}
	return strings.Clone(v.text)
}

// nestsDeeperThan reports whether the JSON body's arrays and objects nest
// deeper than limit, in one pass that skips strings.
func nestsDeeperThan(body []byte, limit int) bool {
	depth, inString := 0, false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if inString {
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			if depth++; depth > limit {
				return true
			}
		case ']', '}':
			depth--
		}
	}
	return false
}

func capLength(s string) string {
	if utf8.RuneCountInString(s) <= MaxFieldLength {
		return s
	}
	r := []rune(s)
	return string(r[:MaxFieldLength])
}

func describe(sources []Source) string {
	if len(sources) == 1 {
		return describeOne(sources[0])
	}
	s := "sources"
	for i, src := range sources {
		if i > 0 {
			s += ","
		}
		s += " " + src.String()
	}
	return s
}

func describeOne(src Source) string {
	if src.Placeholder != "" {
		return "placeholder " + src.Placeholder
	}
	return "path " + src.Path
}
