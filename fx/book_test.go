package fx

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bojanz/currency"
)

// friday is the real ECB publication of Friday 2024-06-28 (the embedded
// snapshot): USD 1.0705, JPY 171.94, GBP 0.84638, INR 89.2495, …
func friday(t *testing.T) *Rates {
	t.Helper()
	r, err := Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// thursday is SYNTHETIC test data for 2024-06-27, deliberately different
// from Friday (USD 1.0712, JPY 170.81, HKD 8.3600) so a test can tell
// which day a conversion used.
func thursday(t *testing.T) *Rates {
	t.Helper()
	r, err := ParseECB(strings.NewReader(feedXML("2024-06-27", func(rows [][2]string) [][2]string {
		rows = setRate("USD", "1.0712")(rows)
		rows = setRate("JPY", "170.81")(rows)
		return setRate("HKD", "8.3600")(rows)
	})))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func amount(t *testing.T, n, code string) currency.Amount {
	t.Helper()
	a, err := currency.NewAmount(n, code)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func at(s string) time.Time {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return tm
}

// Golden conversions against hand-computed values. Every USD amount is
// amount × rate[USD] ÷ rate[X], exact, rounded once to cents half-even;
// Rate is rate[USD] ÷ rate[X] to 10 significant digits. Friday's rates:
// USD 1.0705, JPY 171.94, INR 89.2495, GBP 0.84638, IDR 17487.21,
// ISK 148.90, CHF 0.9634.
func TestToUSDGolden(t *testing.T) {
	b, err := NewBook([]*Rates{friday(t)}, map[string]string{"KWD": "3.2607"})
	if err != nil {
		t.Fatal(err)
	}
	sale := at("2024-06-28T12:00:00Z")
	tests := []struct {
		name, n, code   string
		usd, rate, date string
		source          string
	}{
		// 1999 × 1.0705 = 2139.9295; ÷ 171.94 = 12.44579213679… → 12.45
		// 1.0705 ÷ 171.94 = 0.006226009073…
		{"JPY", "1999", "JPY", "12.45", "0.006226009073", "2024-06-28", SourceECB},
		// 123456789 × 1.0705 = 132160492.6245; ÷ 171.94 = 768643.08842910… → 768643.09
		{"JPY large", "123456789", "JPY", "768643.09", "0.006226009073", "2024-06-28", SourceECB},
		// KWD is not in the feed; override 3.2607 USD per KWD:
		// 1.250 × 3.2607 = 4.0758750 → 4.08
		{"KWD override", "1.250", "KWD", "4.08", "3.2607", "", SourceOverride},
		// 4999.00 × 1.0705 = 5351.429500; ÷ 89.2495 = 59.96033030997… → 59.96
		// 1.0705 ÷ 89.2495 = 0.01199446495…
		{"INR", "4999.00", "INR", "59.96", "0.01199446495", "2024-06-28", SourceECB},
		// EUR's rate is 1: 100.00 × 1.0705 ÷ 1 = 107.050000 → 107.05
		{"EUR", "100.00", "EUR", "107.05", "1.0705", "2024-06-28", SourceECB},
		// 50.00 × 1.0705 = 53.525000, an exact tie: half-even gives 53.52
		// (half-up would give 53.53).
		{"EUR tie rounds to even", "50.00", "EUR", "53.52", "1.0705", "2024-06-28", SourceECB},
		// 12.45 × 1.0705 = 13.327725; ÷ 0.84638 = 15.74673905338… → 15.75
		// 1.0705 ÷ 0.84638 = 1.264798318…
		{"GBP", "12.45", "GBP", "15.75", "1.264798318", "2024-06-28", SourceECB},
		// USD is returned as it came, without a rate lookup.
		{"USD", "199.50", "USD", "199.50", "1", "", SourceIdentity},
		// 150000.00 × 1.0705 = 160575.000000; ÷ 17487.21 = 9.18242532685… → 9.18
		// 1.0705 ÷ 17487.21 = 0.00006121616885…
		{"IDR", "150000.00", "IDR", "9.18", "0.00006121616885", "2024-06-28", SourceECB},
		// 12990 × 1.0705 = 13905.7950; ÷ 148.90 = 93.39016118200… → 93.39
		{"ISK", "12990", "ISK", "93.39", "0.007189388852", "2024-06-28", SourceECB},
		// A refund: -25.90 × 1.0705 = -27.725950; ÷ 0.9634 = -28.77927133… → -28.78
		{"CHF refund", "-25.90", "CHF", "-28.78", "1.111168777", "2024-06-28", SourceECB},
		// -0.001 × 1.0705 = -0.0010705 → 0.00, without a minus sign.
		{"negative zero", "-0.001", "EUR", "0.00", "1.0705", "2024-06-28", SourceECB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := b.ToUSD(amount(t, tt.n, tt.code), sale, 0)
			if err != nil {
				t.Fatal(err)
			}
			if c.USD.Number() != tt.usd || c.USD.CurrencyCode() != "USD" {
				t.Errorf("USD = %s, want %s USD", c.USD, tt.usd)
			}
			if c.Rate != tt.rate || c.Date != tt.date || c.Source != tt.source || c.Stale {
				t.Errorf("rate %s date %q source %s stale %v, want rate %s date %q source %s fresh",
					c.Rate, c.Date, c.Source, c.Stale, tt.rate, tt.date, tt.source)
			}
		})
	}
}

// The day's rate is the latest publication on or before the UTC date of
// the capture.
func TestToUSDPicksTheDay(t *testing.T) {
	b, err := NewBook([]*Rates{friday(t), thursday(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jpy := amount(t, "1999", "JPY")
	// Friday: 1999 × 1.0705 ÷ 171.94 = 12.4457… → 12.45
	// Thursday: 1999 × 1.0712 = 2141.3288; ÷ 170.81 = 12.53631988… → 12.54
	tests := []struct {
		name, at, usd, date string
		stale               bool
	}{
		{"Thursday sale", "2024-06-27T10:00:00Z", "12.54", "2024-06-27", false},
		{"Friday sale before publication uses Friday's date", "2024-06-28T06:00:00Z", "12.45", "2024-06-28", false},
		{"Saturday sale", "2024-06-29T12:00:00Z", "12.45", "2024-06-28", false},
		{"Monday sale before Monday's publication uses Friday", "2024-07-01T08:00:00Z", "12.45", "2024-06-28", false},
		// Friday 01:00 in Tokyo is Thursday 16:00 UTC: the UTC date counts.
		{"capture date is taken in UTC", "2024-06-28T01:00:00+09:00", "12.54", "2024-06-27", false},
		{"exactly seven days is not stale", "2024-07-05T23:59:59Z", "12.45", "2024-06-28", false},
		{"eight days is stale", "2024-07-06T00:00:00Z", "12.45", "2024-06-28", true},
		{"before the oldest rate uses it, flagged", "2024-06-20T12:00:00Z", "12.54", "2024-06-27", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := b.ToUSD(jpy, at(tt.at), 0)
			if err != nil {
				t.Fatal(err)
			}
			if c.USD.Number() != tt.usd || c.Date != tt.date || c.Stale != tt.stale {
				t.Errorf("got %s from %s (stale %v), want %s from %s (stale %v)", c.USD.Number(), c.Date, c.Stale, tt.usd, tt.date, tt.stale)
			}
		})
	}

	// A tighter maxAge flags the Monday sale (three days after Friday).
	c, err := b.ToUSD(jpy, at("2024-07-01T08:00:00Z"), 24*time.Hour)
	if err != nil || !c.Stale || c.Date != "2024-06-28" {
		t.Errorf("maxAge 24h on Monday: %+v, %v; want Friday's rate flagged stale", c, err)
	}
}

// A currency missing from the newest publication keeps its last published
// rate (the ECB has suspended currencies before).
func TestToUSDCurrencyMissingFromNewestDay(t *testing.T) {
	fri, err := ParseECB(strings.NewReader(feedXML("2024-06-28", dropRate("HKD"))))
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBook([]*Rates{thursday(t), fri}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Thursday: 100.00 × 1.0712 = 107.120000; ÷ 8.3600 = 12.8133971… → 12.81
	c, err := b.ToUSD(amount(t, "100.00", "HKD"), at("2024-07-01T08:00:00Z"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.USD.Number() != "12.81" || c.Date != "2024-06-27" || c.Rate != "0.1281339713" {
		t.Errorf("got %s at %s from %s, want 12.81 at 0.1281339713 from 2024-06-27", c.USD.Number(), c.Rate, c.Date)
	}
}

func TestToUSDNoRate(t *testing.T) {
	kwd := amount(t, "1.250", "KWD")
	sale := at("2024-06-28T12:00:00Z")

	without, err := NewBook([]*Rates{friday(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := without.ToUSD(kwd, sale, 0); !errors.Is(err, ErrNoRate) || !strings.Contains(err.Error(), "KWD") {
		t.Errorf("KWD without override = %+v, %v; want ErrNoRate naming KWD", c, err)
	}

	with, err := NewBook([]*Rates{friday(t)}, map[string]string{"kwd": "3.2607"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := with.ToUSD(kwd, sale, 0)
	if err != nil || c.USD.Number() != "4.08" || c.Source != SourceOverride {
		t.Errorf("KWD with override = %+v, %v; want 4.08 from the override", c, err)
	}

	// An empty Book (or none at all) knows nothing but USD.
	for _, b := range []*Book{nil, {}} {
		if _, err := b.ToUSD(amount(t, "1.00", "EUR"), sale, 0); !errors.Is(err, ErrNoRate) {
			t.Errorf("empty book: EUR gave %v, want ErrNoRate", err)
		}
		if c, err := b.ToUSD(amount(t, "1.00", "USD"), sale, 0); err != nil || c.USD.Number() != "1.00" {
			t.Errorf("empty book: USD gave %+v, %v", c, err)
		}
	}
}

// An override wins over the feed for its currency.
func TestToUSDOverrideWinsOverFeed(t *testing.T) {
	b, err := NewBook([]*Rates{friday(t)}, map[string]string{"GBP": "1.25"})
	if err != nil {
		t.Fatal(err)
	}
	// 12.45 × 1.25 = 15.5625 → 15.56 (the feed would give 15.75)
	c, err := b.ToUSD(amount(t, "12.45", "GBP"), at("2024-06-28T12:00:00Z"), 0)
	if err != nil || c.USD.Number() != "15.56" || c.Rate != "1.25" || c.Date != "" || c.Source != SourceOverride {
		t.Errorf("got %+v, %v; want 15.56 at the override 1.25", c, err)
	}
}

func TestNewBookOverridesRejected(t *testing.T) {
	for name, o := range map[string]map[string]string{
		"not a number":    {"KWD": "3,26"},
		"zero":            {"KWD": "0"},
		"negative":        {"KWD": "-3.26"},
		"unknown code":    {"ABC": "1"},
		"USD":             {"USD": "1"},
		"same code twice": {"KWD": "3.26", "kwd": "3.27"},
	} {
		if _, err := NewBook(nil, o); err == nil {
			t.Errorf("%s: NewBook(%v) succeeded, want an error", name, o)
		}
	}
}

func TestNewBookHistory(t *testing.T) {
	var history []*Rates
	start := at("2024-06-01T00:00:00Z")
	for i := 0; i < 20; i++ {
		r, err := NewRates(start.AddDate(0, 0, i).Format(dateLayout), map[string]string{"USD": fmt.Sprintf("1.%04d", i)})
		if err != nil {
			t.Fatal(err)
		}
		history = append(history, r)
	}
	// Out of order, with a replacement for the 20th: the later entry wins.
	replacement, _ := NewRates("2024-06-20", map[string]string{"USD": "2"})
	shuffled := append([]*Rates{history[19], history[3]}, history...)
	b, err := NewBook(append(shuffled, replacement), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.history) != MaxHistory || b.Latest() != "2024-06-20" || b.history[0].Date != "2024-06-07" {
		t.Errorf("kept %d days from %s to %s, want %d from 2024-06-07 to 2024-06-20", len(b.history), b.history[0].Date, b.Latest(), MaxHistory)
	}
	c, err := b.ToUSD(amount(t, "1.00", "EUR"), at("2024-06-20T12:00:00Z"), 0)
	if err != nil || c.USD.Number() != "2.00" {
		t.Errorf("got %+v, %v; want the replacement rate 2", c, err)
	}
	if (&Book{}).Latest() != "" || (*Book)(nil).Latest() != "" {
		t.Error("an empty Book has a Latest date")
	}
}

// A Book copies what it is given, so it stays immutable.
func TestNewBookCopiesRates(t *testing.T) {
	r := friday(t)
	b, err := NewBook([]*Rates{r}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.PerEUR["USD"].SetInt64(5)
	delete(r.PerEUR, "JPY")
	c, err := b.ToUSD(amount(t, "1999", "JPY"), at("2024-06-28T12:00:00Z"), 0)
	if err != nil || c.USD.Number() != "12.45" {
		t.Errorf("after changing the input: %+v, %v; want 12.45", c, err)
	}
}

// CheckRate, which config validation calls, refuses exactly the rates
// NewBook refuses, so a config `caddy validate` passes never fails at start.
func TestCheckRateAgreesWithNewBook(t *testing.T) {
	tests := []struct {
		code, text string
		want       string // the error, "" for none
	}{
		{"AED", "0.2723", ""},
		{"aed", "2723e-4", ""},
		{"AED", " 0.2723", ""},
		{"USD", "1", `USD: USD converts to itself and takes no rate`},
		{"AED", "0e5", `AED: "0e5" is not a positive decimal`},
		{"AED", "0.0e3", `AED: "0.0e3" is not a positive decimal`},
		{"AED", "-0.27", `AED: "-0.27" is not a positive decimal`},
		{"AED", "0", `AED: "0" is not a positive decimal`},
		{"AED", "0,27", `AED: "0,27" is not a number`},
		{"AED", "1e200", `AED: "1e200" is out of range`},
		{"XXQ", "1", `"XXQ" is not an ISO 4217 currency code`},
	}
	for _, tt := range tests {
		_, err := CheckRate(tt.code, tt.text)
		if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
			t.Errorf("CheckRate(%q, %q) = %v, want %q", tt.code, tt.text, err, tt.want)
		}
		var re *RateError
		if err != nil && !errors.As(err, &re) {
			t.Errorf("CheckRate(%q, %q) = %T, want a *RateError", tt.code, tt.text, err)
		}
		overrides := map[string]string{tt.code: tt.text}
		_, bookErr := NewBook(nil, overrides)
		if (bookErr == nil) != (err == nil) || (CheckRates(overrides) == nil) != (err == nil) {
			t.Errorf("%s %q: CheckRate says %v, CheckRates %v, NewBook %v", tt.code, tt.text, err, CheckRates(overrides), bookErr)
		}
	}
	dup := map[string]string{"KWD": "3.26", "kwd": "3.27"}
	if err := CheckRates(dup); fmt.Sprint(err) != "KWD: given twice" {
		t.Errorf("CheckRates(%v) = %v, want KWD: given twice", dup, err)
	}
}
