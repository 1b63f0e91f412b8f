package fx

import (
	"fmt"
	"strings"

	"github.com/bojanz/currency"
	"github.com/cockroachdb/apd/v3"
)

// Unit says how a payload writes an amount.
type Unit uint8

const (
	// Major units: 12.45 means twelve dollars forty-five.
	Major Unit = iota
	// Minor units: 1245 means twelve dollars forty-five (USD has 2 digits).
	Minor
)

// ParseUnit reads "major" or "minor".
func ParseUnit(s string) (Unit, error) {
	switch strings.ToLower(s) {
	case "", "major":
		return Major, nil
	case "minor":
		return Minor, nil
	}
	return Major, fmt.Errorf("amount unit %q: want major or minor", s)
}

// String returns "major" or "minor".
func (u Unit) String() string {
	if u == Minor {
		return "minor"
	}
	return "major"
}

// NormalizeCode upper-cases and trims a currency code and checks that it is
// an ISO 4217 code known to CLDR.
func NormalizeCode(s string) (string, error) {
	code := strings.ToUpper(strings.TrimSpace(s))
	if !currency.IsValid(code) || len(code) != 3 {
		return "", fmt.Errorf("%q is not an ISO 4217 currency code", s)
	}
	return code, nil
}

// Digits returns the ISO 4217 minor-unit digits of a valid code
// (JPY 0, USD 2, KWD 3). Unknown codes report 2.
func Digits(code string) uint8 {
	if d, ok := currency.GetDigits(code); ok {
		return d
	}
	return 2
}

// ParseAmount reads the exact decimal text of an amount (a JSON number's raw
// text or a numeric string) in the given currency. With Minor, the number
// must be whole and is divided by 10^digits; digits < 0 means the
// currency's ISO digits. Negative amounts are allowed here: rejecting
// refunds is validation's job, which has the context to say why.
func ParseAmount(text, code string, unit Unit, digits int) (currency.Amount, error) {
	d, err := parseDecimal(text)
	if err != nil {
		return currency.Amount{}, err
	}
	if unit == Minor {
		if digits < 0 {
			digits = int(Digits(code))
		}
		if digits > 18 {
			return currency.Amount{}, fmt.Errorf("%d minor-unit digits is too many", digits)
		}
		var whole apd.Decimal
		if _, err := apd.BaseContext.WithPrecision(200).RoundToIntegralExact(&whole, d); err != nil || whole.Cmp(d) != 0 {
			return currency.Amount{}, fmt.Errorf("%q is not a whole number of minor units", text)
		}
		d.Exponent -= int32(digits)
	}
	return currency.NewAmount(plainText(d), code)
}

// parseDecimal accepts JSON number grammar only (an optional minus, digits,
// an optional fraction and exponent), so "12,00", "0x10", "Inf" and "NaN"
// are refused rather than guessed at.
func parseDecimal(text string) (*apd.Decimal, error) {
	s := strings.TrimSpace(text)
	if !isJSONNumber(s) {
		return nil, fmt.Errorf("%q is not a number", text)
	}
	d, _, err := apd.NewFromString(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a number", text)
	}
	if d.Exponent > 100 || d.Exponent < -100 {
		return nil, fmt.Errorf("%q is out of range", text)
	}
	return d, nil
}

func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == start {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == fs {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		es := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == es {
			return false
		}
	}
	return i == len(s)
}

// plainText writes a decimal without an exponent ("1E+3" becomes "1000").
func plainText(d *apd.Decimal) string {
	return d.Text('f')
}

// JSONNumber writes an amount as the JSON number the platform receives:
// exact, in major units, trailing zeros dropped, and one decimal kept for
// a whole amount in a currency that has minor units (USD 199 is "199.0",
// USD 199.50 is "199.5", JPY 1999 is "1999", KWD 1.250 is "1.25").
func JSONNumber(a currency.Amount) string {
	d, _, err := apd.NewFromString(a.Number())
	if err != nil {
		return "0"
	}
	s := plainText(d)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	if !strings.Contains(s, ".") && Digits(a.CurrencyCode()) > 0 {
		s += ".0"
	}
	return s
}
