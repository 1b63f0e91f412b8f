package fx

import (
	"strings"
	"testing"

	"github.com/bojanz/currency"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		code   string
		unit   Unit
		digits int
		want   string // Amount.Number(), exact
	}{
		// Major units: the raw text of a JSON number or a numeric string.
		{"json number", "12.45", "USD", Major, -1, "12.45"},
		{"json integer", "199", "USD", Major, -1, "199"},
		{"trailing zeros kept", "199.50", "USD", Major, -1, "199.50"},
		{"numeric string with spaces", " 12.45 ", "EUR", Major, -1, "12.45"},
		{"negative (refund) allowed here", "-5.00", "USD", Major, -1, "-5.00"},
		{"exponent", "1.2e3", "USD", Major, -1, "1200"},
		{"capital exponent with sign", "1E+3", "JPY", Major, -1, "1000"},
		{"negative exponent", "1245E-2", "USD", Major, -1, "12.45"},
		{"above 2^53 keeps every digit", "9007199254740993", "USD", Major, -1, "9007199254740993"},
		{"zero", "0", "USD", Major, -1, "0"},

		// Minor units, ISO digits from CLDR 48.
		{"JPY has 0 digits", "1999", "JPY", Minor, -1, "1999"},
		{"USD has 2 digits", "1245", "USD", Minor, -1, "12.45"},
		{"KWD has 3 digits", "1250", "KWD", Minor, -1, "1.250"},
		{"ISK has 0 digits", "1999", "ISK", Minor, -1, "1999"},
		{"IDR has 2 digits", "150000", "IDR", Minor, -1, "1500.00"},
		{"explicit digits win", "1245", "USD", Minor, 3, "1.245"},
		{"whole number written with a zero fraction", "1245.0", "USD", Minor, -1, "12.450"},
		{"whole number written with an exponent", "1e2", "USD", Minor, -1, "1"},
		{"negative minor", "-250", "USD", Minor, -1, "-2.50"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAmount(tt.text, tt.code, tt.unit, tt.digits)
			if err != nil {
				t.Fatalf("ParseAmount(%q, %s, %s): %v", tt.text, tt.code, tt.unit, err)
			}
			if got.Number() != tt.want || got.CurrencyCode() != tt.code {
				t.Errorf("ParseAmount(%q, %s, %s) = %s, want %s %s", tt.text, tt.code, tt.unit, got, tt.want, tt.code)
			}
		})
	}
}

func TestParseAmountRejects(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		code    string
		unit    Unit
		digits  int
		wantErr string
	}{
		{"decimal comma", "12,00", "USD", Major, -1, `"12,00" is not a number`},
		{"thousands separator", "1,234.50", "USD", Major, -1, `"1,234.50" is not a number`},
		{"empty", "", "USD", Major, -1, `"" is not a number`},
		{"word", "abc", "USD", Major, -1, `"abc" is not a number`},
		{"hex", "0x10", "USD", Major, -1, "is not a number"},
		{"infinity", "Inf", "USD", Major, -1, "is not a number"},
		{"NaN", "NaN", "USD", Major, -1, "is not a number"},
		{"leading plus", "+1", "USD", Major, -1, "is not a number"},
		{"bare fraction", ".5", "USD", Major, -1, "is not a number"},
		{"bare point", "5.", "USD", Major, -1, "is not a number"},
		{"dangling exponent", "1e", "USD", Major, -1, "is not a number"},
		{"currency symbol", "$12", "USD", Major, -1, "is not a number"},
		{"exponent out of range", "1e101", "USD", Major, -1, "out of range"},
		{"non-whole minor amount", "12.5", "USD", Minor, -1, `"12.5" is not a whole number of minor units`},
		{"non-whole minor via exponent", "1245e-1", "USD", Minor, -1, "not a whole number of minor units"},
		{"too many digits", "1", "USD", Minor, 19, "too many"},
		{"unknown currency", "1.00", "ABC", Major, -1, "ABC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAmount(tt.text, tt.code, tt.unit, tt.digits)
			if err == nil {
				t.Fatalf("ParseAmount(%q, %s, %s) = %s, want an error", tt.text, tt.code, tt.unit, got)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseAmount(%q) error %q, want it to contain %q", tt.text, err, tt.wantErr)
			}
		})
	}
}

func TestNormalizeCode(t *testing.T) {
	for in, want := range map[string]string{"USD": "USD", " usd ": "USD", "jpy": "JPY", "Kwd": "KWD", "isk\n": "ISK"} {
		got, err := NormalizeCode(in)
		if err != nil || got != want {
			t.Errorf("NormalizeCode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "US", "USDX", "ABC", "12$", "€"} {
		if got, err := NormalizeCode(in); err == nil {
			t.Errorf("NormalizeCode(%q) = %q, want an error", in, got)
		}
	}
}

func TestDigits(t *testing.T) {
	for code, want := range map[string]uint8{"JPY": 0, "USD": 2, "EUR": 2, "KWD": 3, "ISK": 0, "IDR": 2, "ABC": 2} {
		if got := Digits(code); got != want {
			t.Errorf("Digits(%s) = %d, want %d", code, got, want)
		}
	}
}

func TestParseUnit(t *testing.T) {
	for in, want := range map[string]Unit{"": Major, "major": Major, "Major": Major, "minor": Minor, "MINOR": Minor} {
		got, err := ParseUnit(in)
		if err != nil || got != want {
			t.Errorf("ParseUnit(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseUnit("cents"); err == nil {
		t.Error(`ParseUnit("cents") succeeded, want an error`)
	}
	if Major.String() != "major" || Minor.String() != "minor" {
		t.Errorf("Unit.String() = %q, %q", Major, Minor)
	}
}

func TestJSONNumber(t *testing.T) {
	tests := []struct {
		number, code, want string
	}{
		{"199", "USD", "199.0"},
		{"199.50", "USD", "199.5"},
		{"12.45", "USD", "12.45"},
		{"1999", "JPY", "1999"},
		{"1.250", "KWD", "1.25"},
		{"1.000", "KWD", "1.0"},
		{"1E+3", "JPY", "1000"},
		{"1E+3", "USD", "1000.0"},
		{"-12.30", "USD", "-12.3"},
		{"-0.00", "USD", "0.0"},
		{"0", "JPY", "0"},
		{"9007199254740993", "USD", "9007199254740993.0"},
		{"0.000001", "USD", "0.000001"},
	}
	for _, tt := range tests {
		a, err := currency.NewAmount(tt.number, tt.code)
		if err != nil {
			t.Fatal(err)
		}
		if got := JSONNumber(a); got != tt.want {
			t.Errorf("JSONNumber(%s %s) = %q, want %q", tt.number, tt.code, got, tt.want)
		}
	}
}

// A JSON number's raw text survives ParseAmount and JSONNumber unchanged in
// value, which is the whole point of never going through float64.
func TestParseAmountJSONNumberRoundTrip(t *testing.T) {
	for _, text := range []string{"0.1", "0.3", "12.45", "1999.99", "9007199254740993.07"} {
		a, err := ParseAmount(text, "USD", Major, -1)
		if err != nil {
			t.Fatal(err)
		}
		if got := JSONNumber(a); got != text {
			t.Errorf("JSONNumber(ParseAmount(%q)) = %q", text, got)
		}
	}
}
