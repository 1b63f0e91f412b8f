package sale

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/saletrack/caddy-saletrack/internal/jsonwrite"
)

// Both hosted platforms validate bodies with zod (Dub's server, and
// CutMeShort's TypeScript SDK before it sends), in JavaScript: lengths are
// UTF-16 code units, trim() is JavaScript's, and an email is zod's format.
// These functions measure a string as the platform will, so that a rule is
// refused here exactly when it is refused there.

// jsLength is the length JavaScript gives s once the platform has decoded
// it from JSON: UTF-16 code units, so a character outside the Basic
// Multilingual Plane counts two. Invalid UTF-8 counts as the one U+FFFD
// it is sent as.
func jsLength(s string) int {
	n := 0
	for _, r := range s {
		if r > 0xFFFF {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// jsTrim trims s as JavaScript's String.prototype.trim (zod's trim())
// does: its WhiteSpace and LineTerminator characters, which are not Go's
// unicode.IsSpace (U+0085 is not one of them, U+FEFF is).
func jsTrim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		switch r {
		case '\t', '\n', '\v', '\f', '\r', ' ', '\u00a0', '\ufeff', '\u2028', '\u2029':
			return true
		}
		return unicode.Is(unicode.Zs, r)
	})
}

// zodEmailShape is the shape zod's email check accepts (zod 3.22 and
// later, and v4: the same expression), less its two look-aheads, which Go's
// regexp cannot say and zodEmail checks itself: ASCII letters and digits
// only; a local part of letters, digits and _ ' + - . ending in one of
// letters, digits, _ + -; a domain of labels that begin with a letter or
// digit, ending in two or more letters.
var zodEmailShape = regexp.MustCompile(`^[A-Za-z0-9_'+\-.]*[A-Za-z0-9_+\-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$`)

// zodEmail reports whether zod accepts s as an email address.
func zodEmail(s string) bool {
	return !strings.HasPrefix(s, ".") && !strings.Contains(s, "..") && zodEmailShape.MatchString(s)
}

// optionalName is v when a platform taking names of at most max
// characters accepts it, else "": an optional field the platform would
// refuse is left out of the body rather than cost the event.
func optionalName(v string, max int) string {
	if jsLength(v) > max {
		return ""
	}
	return v
}

// optionalEmail is v when a platform taking zod-checked emails of at most
// max characters accepts it, else "" (see optionalName).
func optionalEmail(v string, max int) string {
	if jsLength(v) > max || !zodEmail(v) {
		return ""
	}
	return v
}

// lengthRule refuses a field whose value (trimmed as JavaScript trims, when
// trim) is shorter than lo or longer than hi characters as JavaScript
// counts them; source names the rule's origin for the reason.
func lengthRule(field string, value func(ev *Event, name string) string, trim bool, lo, hi int, source string) rule {
	return rule{field: field, refuse: func(ev *Event, name string) string {
		v := value(ev, name)
		if trim {
			v = jsTrim(v)
		}
		switch n := jsLength(v); {
		case n == 0 && lo > 0:
			return "empty, but " + source + " requires it"
		case n < lo || n > hi:
			return fmt.Sprintf("%d characters, but %s takes %d to %d", n, source, lo, hi)
		}
		return ""
	}}
}

// oneOfRule refuses a field whose value is not empty and not one of
// allowed.
func oneOfRule(field string, value func(ev *Event) string, source string, allowed ...string) rule {
	return rule{field: field, refuse: func(ev *Event, _ string) string {
		v := value(ev)
		if v == "" {
			return ""
		}
		for _, a := range allowed {
			if v == a {
				return ""
			}
		}
		return fmt.Sprintf("%q is not one of %s, which %s takes", v, strings.Join(allowed, ", "), source)
	}}
}

// nonNegativeAmountRule refuses a negative amount: a refund is no sale,
// and both hosted platforms refuse one (see their profiles).
func nonNegativeAmountRule(source string) rule {
	return rule{field: "amount", refuse: func(ev *Event, _ string) string {
		if ev.Amount.IsNegative() {
			return "negative, but " + source + " takes 0 or more"
		}
		return ""
	}}
}

// The values rules read.
func customerOf(ev *Event, _ string) string { return ev.CustomerExternalID }
func invoiceOf(ev *Event, _ string) string  { return ev.InvoiceID }
func nameSent(_ *Event, name string) string { return name }
func modeOf(ev *Event) string               { return ev.Mode }

// member appends ,"key":value whatever the value; jsonwrite.Optional
// writes the same only for a value that is not empty.
func member(dst []byte, key, value string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return jsonwrite.String(dst, value)
}

// memberTime appends ,"key":"…" with t in TimestampLayout.
func memberTime(dst []byte, key string, t time.Time) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, `":"`...)
	dst = t.UTC().AppendFormat(dst, TimestampLayout)
	return append(dst, '"')
}

// closeObject ends an object whose members were all appended from start
// with a leading comma, so that any of them may be optional: the first
// comma becomes the opening brace. At least one member must be there.
func closeObject(dst []byte, start int) []byte {
	dst[start] = '{'
	return append(dst, '}')
}
