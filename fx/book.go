package fx

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/bojanz/currency"
	"github.com/cockroachdb/apd/v3"
)

// MaxHistory is how many publication days a Book keeps. Two weeks covers a
// long holiday weekend plus the stale window, so a sale replayed from the
// outbox days later still finds the rate of its own day.
const MaxHistory = 14

// DefaultMaxAge is how old a rate may be, relative to the capture date,
// before a conversion is flagged Stale. A week tolerates every TARGET
// holiday run; anything older means the fetcher has been failing.
const DefaultMaxAge = 7 * 24 * time.Hour

// RateDigits is how many significant digits Conversion.Rate carries. It is
// for people reading logs and the platform's display; the USD amount is
// always computed from the exact feed rates, never from this rounded figure.
const RateDigits = 10

// Where a Conversion's rate came from.
const (
	SourceECB      = "ecb"      // the ECB feed, crossed through EUR
	SourceOverride = "override" // a configured static rate
	SourceIdentity = "identity" // the sale was already in USD
)

// ErrNoRate means neither the feed history nor an override knows the
// currency. The caller sends the sale in its own currency without a USD
// amount; test for it with errors.Is.
var ErrNoRate = errors.New("no exchange rate")

// calc is generous enough that amount × rate ÷ rate is exact to far below a
// cent for any amount a sale can carry, so the single rounding at the end is
// the only one. apd contexts are safe for concurrent use when not modified.
var calc = apd.BaseContext.WithPrecision(50)

// Book is an immutable set of exchange rates: the last MaxHistory feed
// publications plus static overrides. It is safe for concurrent use; a
// refresh builds a new Book instead of changing one.
type Book struct {
	history   []*Rates // oldest first, one per date
	overrides map[string]*apd.Decimal
}

// Conversion is the result of Book.ToUSD.
type Conversion struct {
	// USD is the converted amount, rounded once, half-even, to cents.
	USD currency.Amount
	// Rate is USD per one unit of the sale currency, RateDigits
	// significant digits, plain decimal text ("0.006226009073"). "1" for
	// a USD sale.
	Rate string
	// Date is the publication day of the feed rates used, YYYY-MM-DD; ""
	// for an override or a USD sale.
	Date string
	// Stale says the rate is not the capture day's: older than the maximum
	// age, or published after the capture date because the Book holds
	// nothing older. The amount is still converted; the caller must log a
	// warning and count it.
	Stale bool
	// Source is SourceECB, SourceOverride or SourceIdentity.
	Source string
}

// NewBook builds a Book from feed publications and overrides. History may
// come in any order; a later entry replaces an earlier one with the same
// date, and only the newest MaxHistory dates are kept. Overrides map a
// currency code to USD per unit, as decimal text; an override wins over
// the feed for its currency. USD cannot be overridden.
func NewBook(history []*Rates, overrides map[string]string) (*Book, error) {
	byDate := make(map[string]*Rates, len(history))
	for _, r := range history {
		if r == nil {
			continue
		}
		if err := r.check(); err != nil {
			return nil, err
		}
		byDate[r.Date] = r
	}
	b := &Book{history: make([]*Rates, 0, len(byDate))}
	for _, r := range byDate {
		b.history = append(b.history, copyRates(r))
	}
	sort.Slice(b.history, func(i, j int) bool { return b.history[i].Date < b.history[j].Date })
	if n := len(b.history); n > MaxHistory {
		b.history = b.history[n-MaxHistory:]
	}
	var err error
	if b.overrides, err = parseOverrides(overrides); err != nil {
		return nil, fmt.Errorf("rate override: %w", err)
	}
	return b, nil
}

// A RateError is a static rate that NewBook refuses.
type RateError struct {
	// Code is the currency, normalized; "" when the code is not one.
	Code string
	Err  error
}

// Error names the currency, when it is one, and what is wrong.
func (e *RateError) Error() string {
	if e.Code == "" {
		return e.Err.Error()
	}
	return e.Code + ": " + e.Err.Error()
}

// Unwrap returns what is wrong, without the currency.
func (e *RateError) Unwrap() error { return e.Err }

// CheckRate checks one static rate as NewBook takes it and returns the
// normalized code: code must be an ISO 4217 currency other than USD, and
// text its USD per unit as a positive decimal in JSON number syntax
// ("0.2723", "2723e-4"). A failure is a *RateError.
func CheckRate(code, text string) (string, error) {
	c, _, err := parseOverride(code, text)
	return c, err
}

// CheckRates checks a set of static rates as NewBook takes them: each as
// CheckRate does, and no currency twice ("aed" and "AED" are one). A
// failure is a *RateError.
func CheckRates(overrides map[string]string) error {
	_, err := parseOverrides(overrides)
	return err
}

func parseOverrides(overrides map[string]string) (map[string]*apd.Decimal, error) {
	// Sorted, so that of several mistakes the same one is reported each time.
	codes := make([]string, 0, len(overrides))
	for raw := range overrides {
		codes = append(codes, raw)
	}
	sort.Strings(codes)
	out := make(map[string]*apd.Decimal, len(overrides))
	for _, raw := range codes {
		code, d, err := parseOverride(raw, overrides[raw])
		if err != nil {
			return nil, err
		}
		if _, dup := out[code]; dup {
			return nil, &RateError{Code: code, Err: errors.New("given twice")}
		}
		out[code] = d
	}
	return out, nil
}

func parseOverride(raw, text string) (string, *apd.Decimal, error) {
	code, err := NormalizeCode(raw)
	if err != nil {
		return "", nil, &RateError{Err: err}
	}
	if code == "USD" {
		return "", nil, &RateError{Code: code, Err: errors.New("USD converts to itself and takes no rate")}
	}
	d, err := parsePositive(text)
	if err != nil {
		return "", nil, &RateError{Code: code, Err: err}
	}
	return code, d, nil
}

func copyRates(r *Rates) *Rates {
	c := &Rates{Date: r.Date, PerEUR: make(map[string]*apd.Decimal, len(r.PerEUR))}
	for code, d := range r.PerEUR {
		c.PerEUR[code] = new(apd.Decimal).Set(d)
	}
	return c
}

// Latest returns the date of the newest rates, or "" if there are none.
func (b *Book) Latest() string {
	if b == nil || len(b.history) == 0 {
		return ""
	}
	return b.history[len(b.history)-1].Date
}

// ToUSD converts an amount captured at the given time to USD.
//
// The rate is the latest publication on or before the capture date (the
// UTC date of at), so a weekend or holiday sale, or a Monday sale before
// that Monday's publication, uses the last working day's rate. If a
// currency is missing from that publication, older ones are searched, so a
// currency the ECB suspends keeps its last rate (and turns Stale after
// maxAge). A sale dated before every held publication uses the oldest one
// and is flagged Stale. maxAge <= 0 means DefaultMaxAge.
//
// Cross rates go through EUR: USD = amount × rate[USD] ÷ rate[X], multiplied
// before dividing, in exact decimals, rounded once at the end to cents,
// half to even (ties go to the even cent, so summing many sales carries no
// upward bias). An override gives USD = amount × override; it has no date
// and is never Stale. A USD amount is returned unchanged. A currency with
// no rate reports ErrNoRate.
func (b *Book) ToUSD(a currency.Amount, at time.Time, maxAge time.Duration) (Conversion, error) {
	code := a.CurrencyCode()
	if code == "USD" {
		return Conversion{USD: a, Rate: "1", Source: SourceIdentity}, nil
	}
	n, _, err := apd.NewFromString(a.Number())
	if err != nil {
		return Conversion{}, fmt.Errorf("convert %s: %w", a, err)
	}
	if b == nil {
		return Conversion{}, fmt.Errorf("%w for %s", ErrNoRate, code)
	}
	if o, ok := b.overrides[code]; ok {
		usd, err := toCents(n, o, decimalOne)
		if err != nil {
			return Conversion{}, fmt.Errorf("convert %s: %w", a, err)
		}
		return Conversion{USD: usd, Rate: plainText(o), Source: SourceOverride}, nil
	}

	day := at.UTC().Format(dateLayout)
	r := b.pick(code, day)
	if r == nil {
		return Conversion{}, fmt.Errorf("%w for %s", ErrNoRate, code)
	}
	perX := decimalOne
	if code != "EUR" {
		perX = r.PerEUR[code]
	}
	usdPerEUR := r.PerEUR["USD"]
	usd, err := toCents(n, usdPerEUR, perX)
	if err != nil {
		return Conversion{}, fmt.Errorf("convert %s: %w", a, err)
	}
	rate, err := rateText(usdPerEUR, perX)
	if err != nil {
		return Conversion{}, fmt.Errorf("convert %s: %w", a, err)
	}
	return Conversion{
		USD:    usd,
		Rate:   rate,
		Date:   r.Date,
		Stale:  isStale(day, r.Date, maxAge),
		Source: SourceECB,
	}, nil
}

var decimalOne = apd.New(1, 0)

// pick returns the newest publication on or before day that knows code, or
// failing that the oldest one after day that does, or nil.
func (b *Book) pick(code, day string) *Rates {
	has := func(r *Rates) bool { return code == "EUR" || r.PerEUR[code] != nil }
	for i := len(b.history) - 1; i >= 0; i-- {
		if r := b.history[i]; r.Date <= day && has(r) {
			return r
		}
	}
	for _, r := range b.history {
		if has(r) {
			return r
		}
	}
	return nil
}

// isStale compares calendar days, so a rate from exactly maxAge before the
// capture date is still fresh and a Friday rate for a Monday sale is three
// days old whatever the hour.
func isStale(day, rateDay string, maxAge time.Duration) bool {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	d, err1 := time.Parse(dateLayout, day)
	r, err2 := time.Parse(dateLayout, rateDay)
	if err1 != nil || err2 != nil {
		return true
	}
	age := d.Sub(r)
	return age < 0 || age > maxAge
}

// toCents returns amount × mul ÷ div in USD, rounded half-even to cents
// once, after the exact product and a 50-digit quotient.
func toCents(amount, mul, div *apd.Decimal) (currency.Amount, error) {
	var prod, quo, cents apd.Decimal
	if _, err := calc.Mul(&prod, amount, mul); err != nil {
		return currency.Amount{}, err
	}
	if _, err := calc.Quo(&quo, &prod, div); err != nil {
		return currency.Amount{}, err
	}
	round := *calc
	round.Rounding = apd.RoundHalfEven
	if _, err := round.Quantize(&cents, &quo, -int32(Digits("USD"))); err != nil {
		return currency.Amount{}, err
	}
	if cents.IsZero() {
		cents.Negative = false // "-0.00" would confuse every consumer
	}
	return currency.NewAmount(plainText(&cents), "USD")
}

// rateText returns mul ÷ div to RateDigits significant digits, without
// trailing zeros or an exponent.
func rateText(mul, div *apd.Decimal) (string, error) {
	ctx := apd.BaseContext.WithPrecision(RateDigits)
	ctx.Rounding = apd.RoundHalfEven
	var q apd.Decimal
	if _, err := ctx.Quo(&q, mul, div); err != nil {
		return "", err
	}
	q.Reduce(&q)
	return plainText(&q), nil
}
