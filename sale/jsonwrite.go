package sale

import (
	"errors"
	"time"
	"unicode/utf8"

	"github.com/bojanz/currency"
)

// The record every captured sale writes is encoded here by hand, without
// encoding/json's reflection: it is on the request path of every sale. The
// bytes are exactly what encoding/json writes for the same values (the
// tests compare them), so json.Unmarshal reads them back and records
// written by earlier versions and by this one look the same.

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it: HTML-safe (<, > and & as \u003c, \u003e, \u0026), invalid
// UTF-8 as \ufffd, and U+2028 and U+2029 escaped for JavaScript.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// errTimeRange is time.Time.MarshalJSON's refusal, kept so that a time
// encoding/json could not write is not written here either.
var errTimeRange = errors.New("sale: time outside the years 0 to 9999, or its zone offset 24 hours or more")

// appendJSONTime appends t as time.Time.MarshalJSON does: RFC 3339 with
// nanoseconds, quoted.
func appendJSONTime(dst []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		return dst, errTimeRange
	}
	if _, offset := t.Zone(); offset <= -24*3600 || offset >= 24*3600 {
		return dst, errTimeRange
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"'), nil
}

// appendJSONAmount appends a as currency.Amount.MarshalJSON does.
func appendJSONAmount(dst []byte, a currency.Amount) []byte {
	dst = append(dst, `{"number":`...)
	dst = appendJSONString(dst, a.Number())
	dst = append(dst, `,"currency":`...)
	dst = appendJSONString(dst, a.CurrencyCode())
	return append(dst, '}')
}

// appendOptional appends ,"key":"value" unless value is empty (omitempty).
func appendOptional(dst []byte, key, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return appendJSONString(dst, value)
}

// appendRecordJSON appends the event as json.Marshal(e) writes it.
func (e *Event) appendRecordJSON(dst []byte) ([]byte, error) {
	var err error
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, e.ID)
	dst = append(dst, `,"event":`...)
	dst = appendJSONString(dst, e.Event)
	dst = append(dst, `,"timestamp":`...)
	if dst, err = appendJSONTime(dst, e.Timestamp); err != nil {
		return dst, err
	}
	dst = append(dst, `,"customerExternalId":`...)
	dst = appendJSONString(dst, e.CustomerExternalID)
	dst = appendOptional(dst, "email", e.Email)
	dst = appendOptional(dst, "name", e.Name)
	dst = append(dst, `,"amount":`...)
	dst = appendJSONAmount(dst, e.Amount)
	dst = appendOptional(dst, "invoiceId", e.InvoiceID)
	dst = appendOptional(dst, "clickId", e.ClickID)
	dst = appendOptional(dst, "route", e.Route)
	dst = append(dst, `,"capturedAt":`...)
	if dst, err = appendJSONTime(dst, e.CapturedAt); err != nil {
		return dst, err
	}
	if e.USD != nil {
		dst = append(dst, `,"usd":{"amount":`...)
		dst = appendJSONAmount(dst, e.USD.Amount)
		dst = appendOptional(dst, "rate", e.USD.Rate)
		dst = appendOptional(dst, "date", e.USD.Date)
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

// appendNewRecord appends a just-captured event's outbox record, as
// json.Marshal(record{Event: …, NextAttempt: now, Since: since,
// EnqueuedAt: now}) writes it.
func appendNewRecord(dst []byte, e *Event, now, since time.Time) ([]byte, error) {
	var err error
	dst = append(dst, `{"event":`...)
	if dst, err = e.appendRecordJSON(dst); err != nil {
		return dst, err
	}
	dst = append(dst, `,"attempts":0,"next_attempt":`...)
	if dst, err = appendJSONTime(dst, now); err != nil {
		return dst, err
	}
	dst = append(dst, `,"since":`...)
	if dst, err = appendJSONTime(dst, since); err != nil {
		return dst, err
	}
	dst = append(dst, `,"enqueued_at":`...)
	if dst, err = appendJSONTime(dst, now); err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}
