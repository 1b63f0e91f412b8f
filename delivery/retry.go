package delivery

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryableStatus reports whether an HTTP status is worth retrying: 408
// (request timeout), 425 (too early), 429 (too many requests) and every 5xx
// except 501, which says the platform will never implement the request.
// Every other 4xx means the request itself is wrong and would fail again.
func RetryableStatus(status int) bool {
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly,
		status == http.StatusTooManyRequests:
		return true
	case status == http.StatusNotImplemented:
		return false
	case status >= 500 && status <= 599:
		return true
	}
	return false
}

// IsPermanent reports whether a Send error means the event can never be
// delivered as it is. Only a *SendError marked Permanent is; anything else
// (a network error, a timeout, a closed file) may pass on a later attempt.
func IsPermanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Permanent
}

// Backoff is the full-jitter delay before retry number attempt (0 for the
// first retry): a uniformly random duration in [0, min(maxDelay, base·2^attempt)].
// Full jitter spreads a burst of failures (a platform outage) over the
// whole window instead of retrying them in lockstep.
func Backoff(attempt int, base, maxDelay time.Duration) time.Duration {
	return backoffWith(attempt, base, maxDelay, rand.Int64N)
}

// backoffWith is Backoff with the random source injected, so tests can pin
// the bounds.
func backoffWith(attempt int, base, maxDelay time.Duration, int64n func(int64) int64) time.Duration {
	ceiling := backoffCeiling(attempt, base, maxDelay)
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(int64n(int64(ceiling) + 1))
}

// backoffCeiling is min(maxDelay, base·2^attempt), computed without overflow.
func backoffCeiling(attempt int, base, maxDelay time.Duration) time.Duration {
	if base <= 0 || maxDelay <= 0 {
		return 0
	}
	if attempt < 0 {
		attempt = 0
	}
	if attempt >= 62 || base > maxDelay>>uint(attempt) {
		return maxDelay
	}
	return base << uint(attempt)
}

// ParseRetryAfter reads a Retry-After header: delta-seconds ("120") or an
// HTTP date, relative to now. It returns 0 when the header is absent,
// malformed or in the past, so a bad header falls back to normal backoff.
func ParseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(value, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		// About 292 years fits a Duration; anything longer is nonsense and
		// is clamped by the caller's expiry anyway.
		if secs > int64(time.Duration(1<<62)/time.Second) {
			secs = int64(time.Duration(1<<62) / time.Second)
		}
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(value)
	if err != nil {
		return 0
	}
	if d := t.Sub(now); d > 0 {
		return d
	}
	return 0
}

// nextAttempt decides when a failed event is tried again. A Retry-After
// from the platform wins over the computed backoff, even beyond
// BackoffCap, because the platform knows its own load; but no retry is
// ever scheduled after the event's expiry (since + MaxEventAge), so an
// absurd Retry-After costs at most one last attempt at expiry, after which
// the event becomes a dead letter.
func nextAttempt(now, expiry time.Time, attempt int, retryAfter, base, maxDelay time.Duration) time.Time {
	delay := retryAfter
	if delay <= 0 {
		delay = Backoff(attempt, base, maxDelay)
	}
	next := now.Add(delay)
	if next.After(expiry) {
		next = expiry
	}
	if next.Before(now) {
		next = now
	}
	return next
}
