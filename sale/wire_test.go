package sale

import (
	"strings"
	"testing"
)

func TestRoundAmount(t *testing.T) {
	tests := []struct {
		in, code string
		digits   uint8
		want     string
	}{
		{"124.8667", "EUR", 2, "124.87"},
		{"65.3786", "EUR", 2, "65.38"},
		{"0.125", "EUR", 2, "0.13"}, // half away from zero, not to even
		{"0.135", "EUR", 2, "0.14"},
		{"-0.125", "EUR", 2, "-0.13"},
		{"-0.001", "EUR", 2, "0.00"}, // no negative zero
		{"9.995", "EUR", 2, "10.00"},
		{"199.00", "EUR", 2, "199.00"}, // nothing to round: unchanged
		{"199", "EUR", 2, "199"},
		{"1999.5", "JPY", 0, "2000"},
		{"1.2345", "KWD", 3, "1.235"},
		{"1.2345", "KWD", 2, "1.23"},
		{"123456789012345678901234567890123456789012345.678", "EUR", 2, "123456789012345678901234567890123456789012345.68"},
	}
	for _, tt := range tests {
		if got := RoundAmount(amountOf(t, tt.in, tt.code), tt.digits); got.Number() != tt.want || got.CurrencyCode() != tt.code {
			t.Errorf("%s %s to %d: got %s %s, want %s", tt.in, tt.code, tt.digits, got.Number(), got.CurrencyCode(), tt.want)
		}
	}
}

func TestWireAmountUsesISODigits(t *testing.T) {
	tests := map[string]string{"124.8667 EUR": "124.87", "1999.4 JPY": "1999", "1.23456 KWD": "1.235", "1000.5 ISK": "1001"}
	for in, want := range tests {
		n, code, _ := strings.Cut(in, " ")
		if got := WireAmount(amountOf(t, n, code)).Number(); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
}

func TestMinorUnits(t *testing.T) {
	tests := []struct {
		in, code string
		unit     uint8
		want     string
	}{
		{"199.00", "EUR", 2, "19900"},
		{"199", "EUR", 2, "19900"},
		{"124.8667", "EUR", 2, "12487"},
		{"0.005", "USD", 2, "1"},
		{"1999", "JPY", 0, "1999"},
		{"1999.5", "JPY", 0, "2000"},
		{"1.250", "KWD", 2, "125"},
		{"1.2345", "KWD", 2, "123"}, // once, to hundredths: not 1.235 then 124
		{"1000", "ISK", 2, "100000"},
		{"1000.50", "MGA", 0, "1001"},
		{"0", "EUR", 2, "0"},
		{"0.001", "EUR", 2, "0"},
		{"1E+3", "EUR", 2, "100000"},
	}
	for _, tt := range tests {
		if got := minorUnits(amountOf(t, tt.in, tt.code), tt.unit); got != tt.want {
			t.Errorf("%s %s in 10^-%d: got %s, want %s", tt.in, tt.code, tt.unit, got, tt.want)
		}
	}
}

func TestDubUnitDigits(t *testing.T) {
	for code, want := range map[string]uint8{"USD": 2, "EUR": 2, "JPY": 0, "KRW": 0, "XOF": 0, "KWD": 2, "ISK": 2, "MGA": 0} {
		if got := dubUnitDigits(code); got != want {
			t.Errorf("%s: %d, want %d", code, got, want)
		}
	}
}

func TestJSLength(t *testing.T) {
	for s, want := range map[string]int{"": 0, "abc": 3, "é": 1, "日本": 2, "🛒": 2, "a\xffb": 3} {
		if got := jsLength(s); got != want {
			t.Errorf("%q: %d, want %d", s, got, want)
		}
	}
}

func TestJSTrim(t *testing.T) {
	for s, want := range map[string]string{
		" a ": "a", "\t\n\v\f\r a \u00a0\ufeff\u2028\u2029\u3000\u2000": "a", "\u0085a\u0085": "\u0085a\u0085", "a b": "a b",
	} {
		if got := jsTrim(s); got != want {
			t.Errorf("%q: %q, want %q", s, got, want)
		}
	}
}

// zod's email check, as Dub's server and CutMeShort's TypeScript SDK run it.
func TestZodEmail(t *testing.T) {
	good := []string{"alex@example.com", "a.b+tag@sub.example.co", "o'brien@example.ie", "x_y-z@a-b.io", "A@B.CD"}
	bad := []string{"", "alex", "alex@example", ".alex@example.com", "a..b@example.com", "alex.@example.com",
		"alex@-example.com", "alex@example.c", "alex@example.c0m", "zoë@example.com", "alex@exämple.com",
		"alex@example.com\n", "a b@example.com", "alex@@example.com", "alex@example..com"}
	for _, s := range good {
		if !zodEmail(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range bad {
		if zodEmail(s) {
			t.Errorf("%q accepted", s)
		}
	}
}
