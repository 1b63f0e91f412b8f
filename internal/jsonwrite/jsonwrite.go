// Package jsonwrite appends JSON values to a byte slice by hand, without
// encoding/json's reflection: each sale's outbox record and wire payload
// are written on the request path. The bytes are exactly what encoding/json
// writes for the same values (the tests compare them), so json.Unmarshal
// reads them back and records written by earlier versions and by this one
// look the same.
package jsonwrite

import (
	"errors"
	"time"
	"unicode/utf8"

	"github.com/bojanz/currency"
)

const hexDigits = "0123456789abcdef"

// String appends s as a JSON string, escaped as encoding/json
// escapes it: HTML-safe (<, > and & as \u003c, \u003e, \u0026), invalid
// UTF-8 as \ufffd, and U+2028 and U+2029 escaped for JavaScript.
func String(dst []byte, s string) []byte {
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

// ErrTimeRange is time.Time.MarshalJSON's refusal, kept so that a time
// encoding/json could not write is not written here either.
var ErrTimeRange = errors.New("json: time outside the years 0 to 9999, or its zone offset 24 hours or more")

// Time appends t as time.Time.MarshalJSON does: RFC 3339 with
// nanoseconds, quoted.
func Time(dst []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		return dst, ErrTimeRange
	}
	if _, offset := t.Zone(); offset <= -24*3600 || offset >= 24*3600 {
		return dst, ErrTimeRange
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"'), nil
}

// Amount appends a as currency.Amount.MarshalJSON does.
func Amount(dst []byte, a currency.Amount) []byte {
	dst = append(dst, `{"number":`...)
	dst = String(dst, a.Number())
	dst = append(dst, `,"currency":`...)
	dst = String(dst, a.CurrencyCode())
	return append(dst, '}')
}

// Optional appends ,"key":"value" unless value is empty (omitempty).
func Optional(dst []byte, key, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return String(dst, value)
}
