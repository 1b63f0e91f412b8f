package sale

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// unixMillisThreshold separates unix seconds from milliseconds: 1e11
// seconds is the year 5138, 1e11 milliseconds is March 1973.
const unixMillisThreshold = 100_000_000_000

var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// ParseTimestamp reads an ISO 8601 string, or a number of unix seconds or
// milliseconds (a JSON number or a numeric string). A time without a zone
// is taken as UTC. The result is UTC, truncated to milliseconds.
func ParseTimestamp(text string) (time.Time, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty timestamp")
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "-:T") {
		// A float is exact enough for a time: milliseconds fit in 2^53.
		if n < 0 {
			return time.Time{}, fmt.Errorf("timestamp %q is negative", text)
		}
		if n >= unixMillisThreshold {
			return time.UnixMilli(int64(n)).UTC(), nil
		}
		return time.UnixMilli(int64(n * 1000)).UTC(), nil
	}
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(time.Millisecond), nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q is neither ISO 8601 nor unix seconds or milliseconds", text)
}
