package fx

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cockroachdb/apd/v3"
)

// DefaultURL is the ECB's daily euro foreign exchange reference rates feed.
// A mirror serving the same document works as well.
const DefaultURL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"

// MinCurrencies is the fewest currencies a daily feed must carry to be
// believed. The ECB publishes about thirty; a document with far fewer is a
// truncated download or a broken mirror, and taking it would silently drop
// currencies that were convertible yesterday.
const MinCurrencies = 20

// dateLayout is how the feed, the cache and Conversion write a day.
const dateLayout = "2006-01-02"

// Rates is one publication of the ECB feed: for each currency, how many
// units of it one euro buys on Date. EUR itself is implied (1) and never
// listed. The decimals are exact copies of the feed's text ("148.90" keeps
// its trailing zero); nothing is ever held as a float.
//
// A Rates handed to NewBook is copied, so callers may reuse it; a Rates
// read from a Book must not be modified.
type Rates struct {
	// Date is the publication day, YYYY-MM-DD.
	Date string
	// PerEUR maps an upper-case three-letter code to units per euro.
	PerEUR map[string]*apd.Decimal
}

// NewRates builds Rates from decimal text, with the same checks a feed
// gets except the minimum number of currencies, so tests and callers can
// describe a small day by hand.
func NewRates(date string, perEUR map[string]string) (*Rates, error) {
	r := &Rates{Date: date, PerEUR: make(map[string]*apd.Decimal, len(perEUR))}
	for code, text := range perEUR {
		d, err := parseRate(code, text)
		if err != nil {
			return nil, err
		}
		r.PerEUR[code] = d
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}

// ParseECB reads one eurofxref-daily.xml document. It is strict on
// purpose: a feed without a date or a USD rate, with fewer than
// MinCurrencies currencies, a duplicate currency, or a rate that is not a
// positive decimal is an error, so a broken download can never replace
// good rates. Element names are matched without their namespace, so a
// mirror that re-serialises the document with other prefixes or quotes
// still parses.
func ParseECB(r io.Reader) (*Rates, error) {
	dec := xml.NewDecoder(r)
	var env ecbEnvelope
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("ECB feed: not a gesmes:Envelope document: %w", err)
	}
	// A second root element means the body was two documents glued together
	// (or worse); Decode alone would stop reading after the first.
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ECB feed: after the envelope: %w", err)
		}
		if _, ok := tok.(xml.StartElement); ok {
			return nil, errors.New("ECB feed: content after the envelope")
		}
	}

	if len(env.Outer) != 1 {
		return nil, fmt.Errorf("ECB feed: want one outer Cube, found %d", len(env.Outer))
	}
	days := env.Outer[0].Days
	if len(days) != 1 {
		return nil, fmt.Errorf("ECB feed: want one dated Cube (the daily feed), found %d", len(days))
	}
	day := days[0]
	rates := &Rates{Date: day.Time, PerEUR: make(map[string]*apd.Decimal, len(day.Rates))}
	if err := checkDate(day.Time); err != nil {
		return nil, fmt.Errorf("ECB feed: %w", err)
	}
	for _, c := range day.Rates {
		if _, dup := rates.PerEUR[c.Currency]; dup {
			return nil, fmt.Errorf("ECB feed %s: currency %s listed twice", day.Time, c.Currency)
		}
		d, err := parseRate(c.Currency, c.Rate)
		if err != nil {
			return nil, fmt.Errorf("ECB feed %s: %w", day.Time, err)
		}
		rates.PerEUR[c.Currency] = d
	}
	if err := rates.checkComplete(); err != nil {
		return nil, fmt.Errorf("ECB feed: %w", err)
	}
	return rates, nil
}

// ecbEnvelope mirrors the three levels of Cube in the feed: an outer
// container, one dated Cube per day, and one Cube per currency. Tags name
// local elements only, so any namespace prefix matches.
type ecbEnvelope struct {
	XMLName xml.Name   `xml:"Envelope"`
	Outer   []ecbOuter `xml:"Cube"`
}

type ecbOuter struct {
	Days []ecbDay `xml:"Cube"`
}

type ecbDay struct {
	Time  string    `xml:"time,attr"`
	Rates []ecbRate `xml:"Cube"`
}

type ecbRate struct {
	Currency string `xml:"currency,attr"`
	Rate     string `xml:"rate,attr"`
}

// check holds the rules every Rates obeys wherever it came from.
func (r *Rates) check() error {
	if err := checkDate(r.Date); err != nil {
		return err
	}
	for code, d := range r.PerEUR {
		if err := checkCode(code); err != nil {
			return fmt.Errorf("rates %s: %w", r.Date, err)
		}
		if d == nil || d.Form != apd.Finite || d.Sign() <= 0 {
			return fmt.Errorf("rates %s: rate for %s is not a positive number", r.Date, code)
		}
	}
	if r.PerEUR["USD"] == nil {
		return fmt.Errorf("rates %s: no USD rate", r.Date)
	}
	return nil
}

// checkComplete adds the completeness rule for whole feeds (from the
// network or the cache), which hand-made Rates are spared.
func (r *Rates) checkComplete() error {
	if err := r.check(); err != nil {
		return err
	}
	if n := len(r.PerEUR); n < MinCurrencies {
		return fmt.Errorf("rates %s: only %d currencies, want at least %d (partial feed?)", r.Date, n, MinCurrencies)
	}
	return nil
}

func checkDate(s string) error {
	if s == "" {
		return errors.New("rates: no date")
	}
	if _, err := time.Parse(dateLayout, s); err != nil {
		return fmt.Errorf("rates: date %q is not YYYY-MM-DD", s)
	}
	return nil
}

// checkCode accepts any three upper-case ASCII letters rather than asking
// CLDR: the feed legitimately carries codes CLDR has retired (BGN after
// Bulgaria joined the euro, HRK before that), and refusing the whole day
// over one of them would be worse than keeping a rate nobody asks for.
func checkCode(code string) error {
	if len(code) != 3 {
		return fmt.Errorf("currency %q is not a three-letter code", code)
	}
	for i := 0; i < 3; i++ {
		if code[i] < 'A' || code[i] > 'Z' {
			return fmt.Errorf("currency %q is not a three-letter code", code)
		}
	}
	if code == "EUR" {
		return errors.New("EUR is the base currency and cannot have a rate")
	}
	return nil
}

// parseRate reads a feed's rate for a currency.
func parseRate(code, text string) (*apd.Decimal, error) {
	if err := checkCode(code); err != nil {
		return nil, err
	}
	d, err := parsePositive(text)
	if err != nil {
		return nil, fmt.Errorf("rate for %s: %w", code, err)
	}
	return d, nil
}

// parsePositive reads a rate, of the feed or configured, with the same
// JSON-number grammar as amounts ("1,0705" and "NaN" are refused). Zero
// in any notation ("0e5", "0.0e3") is refused with the negatives: no
// amount converts at that rate.
func parsePositive(text string) (*apd.Decimal, error) {
	d, err := parseDecimal(text)
	if err != nil {
		return nil, err
	}
	if d.Sign() <= 0 {
		return nil, fmt.Errorf("%q is not a positive decimal", text)
	}
	return d, nil
}
