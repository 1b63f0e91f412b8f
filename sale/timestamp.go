package sale

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A unix time's unit is told by its magnitude: below 1e11 it is seconds
// (1e11 s is the year 5138), below 1e14 milliseconds, below 1e17
// microseconds, else nanoseconds. Each unit's range starts in 1973, so
// every real time of this century reads in its own unit.
const (
	unixMillisFrom = 100_000_000_000
	unixMicrosFrom = 100_000_000_000_000
	unixNanosFrom  = 100_000_000_000_000_000
)

// The window a sale's own time must fall in; outside it the time is a
// mistake (a zero date, a wrong unit) and the capture time stands in.
var (
	earliestTimestamp = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	timestampLead     = 24 * time.Hour
)

var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// ParseTimestamp reads an ISO 8601 string, or a unix time in seconds,
// milliseconds, microseconds or nanoseconds (told apart by magnitude),
// written in plain decimal digits with an optional fraction: a JSON number
// or a numeric string. Signs, exponents, hex, underscores, NaN and Inf are
// refused. A time without a zone is UTC. The result is UTC, truncated to
// milliseconds.
func ParseTimestamp(text string) (time.Time, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty timestamp")
	}
	if t, ok := parseUnixDecimal(s); ok {
		return t.UTC().Truncate(time.Millisecond), nil
	}
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(time.Millisecond), nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q is neither ISO 8601 nor a decimal unix time", text)
}

// parseUnixDecimal reads digits[.digits] as a unix time.
func parseUnixDecimal(s string) (time.Time, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if !allDigits(whole) || (frac != "" && !allDigits(frac)) || strings.HasSuffix(s, ".") {
		return time.Time{}, false
	}
	n, err := strconv.ParseUint(whole, 10, 63)
	if err != nil {
		return time.Time{}, false
	}
	// fracNanos is the fraction of one unit in nanoseconds, for a unit of
	// 10^digits nanoseconds: digits beyond a nanosecond are dropped.
	fracNanos := func(digits int) int64 {
		f := (frac + strings.Repeat("0", digits))[:digits]
		v, _ := strconv.ParseInt(f, 10, 64)
		return v
	}
	switch {
	case n < unixMillisFrom:
		return time.Unix(int64(n), fracNanos(9)), true
	case n < unixMicrosFrom:
		return time.UnixMilli(int64(n)).Add(time.Duration(fracNanos(6))), true
	case n < unixNanosFrom:
		return time.UnixMicro(int64(n)).Add(time.Duration(fracNanos(3))), true
	}
	return time.Unix(0, int64(n)), true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkTimestampWindow says why t cannot be a sale's time, captured at now.
func checkTimestampWindow(t, now time.Time) error {
	switch {
	case t.Before(earliestTimestamp):
		return fmt.Errorf("%s is before 2000", t.Format(TimestampLayout))
	case t.After(now.Add(timestampLead)):
		return fmt.Errorf("%s is more than a day ahead", t.Format(TimestampLayout))
	}
	return nil
}
