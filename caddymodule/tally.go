package caddymodule

import (
	"sort"
	"sync"
	"time"

	"github.com/bojanz/currency"
)

// tally counts what the status page shows: captures per route and kind
// over the last hour and since midnight UTC, with their revenue in USD,
// and every outcome by reason since midnight. It is one per process, so
// the figures outlive config reloads; a restart begins them again.
type tally struct {
	mu       sync.Mutex
	day      string // the UTC date today's counts are of
	today    map[routeKind]*captureCount
	minutes  map[routeKind]*[60]minuteCount
	outcomes map[outcomeKey]int
}

type routeKind struct{ Route, Kind string }

// captureCount is a number of captures and the USD they carried; USD is
// the zero Amount until a sale with a USD value is counted.
type captureCount struct {
	N   int
	USD currency.Amount
}

// minuteCount is one minute's captures, stamped with the minute (Unix
// time / 60) so a bucket left from an hour ago is not read as this one.
type minuteCount struct {
	minute int64
	captureCount
}

type outcomeKey struct{ Route, Outcome, Code string }

func newTally() *tally {
	return &tally{today: map[routeKind]*captureCount{}, minutes: map[routeKind]*[60]minuteCount{}, outcomes: map[outcomeKey]int{}}
}

// add counts e; usd is the sale's value in USD for a capture, or nil.
func (t *tally) add(e outcomeEntry, usd *currency.Amount) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rollLocked(e.Time)
	t.outcomes[outcomeKey{e.Route, e.Outcome, e.code}]++
	if e.Outcome != outcomeCaptured {
		return
	}
	k := routeKind{e.Route, e.Kind}
	today := t.today[k]
	if today == nil {
		today = new(captureCount)
		t.today[k] = today
	}
	today.add(usd)
	buckets := t.minutes[k]
	if buckets == nil {
		buckets = new([60]minuteCount)
		t.minutes[k] = buckets
	}
	minute := e.Time.Unix() / 60
	b := &buckets[minute%60]
	if b.minute != minute {
		*b = minuteCount{minute: minute}
	}
	b.add(usd)
}

// rollLocked starts a new day's counts at midnight UTC.
func (t *tally) rollLocked(now time.Time) {
	if day := now.UTC().Format(time.DateOnly); day != t.day {
		t.day = day
		clear(t.today)
		clear(t.outcomes)
	}
}

func (c *captureCount) add(usd *currency.Amount) {
	one := captureCount{N: 1}
	if usd != nil {
		one.USD = *usd
	}
	c.merge(one)
}

// merge adds o's captures and revenue to c. A zero Amount has no currency,
// so the first revenue counted is taken as it is.
func (c *captureCount) merge(o captureCount) {
	c.N += o.N
	switch {
	case o.USD.CurrencyCode() == "":
	case c.USD.CurrencyCode() == "":
		c.USD = o.USD
	default:
		if sum, err := c.USD.Add(o.USD); err == nil {
			c.USD = sum
		}
	}
}

// routeFigures are one route and kind's captures.
type routeFigures struct {
	Route    string
	Kind     string
	LastHour captureCount
	Today    captureCount
}

// outcomeFigure is how often an outcome happened today, for one reason.
type outcomeFigure struct {
	Route   string
	Outcome string
	Reason  string
	Count   int
}

// snapshot returns the figures as of now, sorted by route and kind, and by
// route, outcome and reason.
func (t *tally) snapshot(now time.Time) ([]routeFigures, []outcomeFigure) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rollLocked(now)
	// Every route with a minute counted is looked at, not only today's:
	// just after midnight, the last hour still holds yesterday's captures.
	var routes []routeFigures
	for k, buckets := range t.minutes {
		f := routeFigures{Route: k.Route, Kind: k.Kind}
		if today := t.today[k]; today != nil {
			f.Today = *today
		}
		for _, b := range buckets {
			if b.minute > now.Unix()/60-60 {
				f.LastHour.merge(b.captureCount)
			}
		}
		if f.Today.N > 0 || f.LastHour.N > 0 {
			routes = append(routes, f)
		}
	}
	sort.Slice(routes, func(i, j int) bool {
		a, b := routes[i], routes[j]
		return a.Route < b.Route || a.Route == b.Route && a.Kind > b.Kind
	})
	var outcomes []outcomeFigure
	for k, n := range t.outcomes {
		outcomes = append(outcomes, outcomeFigure{Route: k.Route, Outcome: k.Outcome, Reason: k.Code, Count: n})
	}
	sort.Slice(outcomes, func(i, j int) bool {
		a, b := outcomes[i], outcomes[j]
		if a.Route != b.Route {
			return a.Route < b.Route
		}
		if a.Outcome != b.Outcome {
			return a.Outcome < b.Outcome
		}
		return a.Reason < b.Reason
	})
	return routes, outcomes
}
