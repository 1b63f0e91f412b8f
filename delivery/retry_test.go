package delivery

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestRetryClassification(t *testing.T) {
	// A spelled-out table for the statuses that matter, then every status
	// against the rule.
	for status, want := range map[int]bool{
		200: false, 400: false, 401: false, 403: false, 404: false, 409: false, 422: false,
		408: true, 425: true, 429: true,
		500: true, 501: false, 502: true, 503: true, 504: true, 505: true, 599: true,
	} {
		if got := RetryableStatus(status); got != want {
			t.Errorf("RetryableStatus(%d) = %t, want %t", status, got, want)
		}
	}
	for status := 100; status <= 599; status++ {
		want := status == 408 || status == 425 || status == 429 || (status >= 500 && status != 501)
		if got := RetryableStatus(status); got != want {
			t.Errorf("RetryableStatus(%d) = %t, want %t", status, got, want)
		}
	}

	for _, tc := range []struct {
		err       error
		permanent bool
	}{
		{errors.New("dial tcp: connection refused"), false},
		{&SendError{Status: 503}, false},
		{&SendError{Permanent: true, Status: 422}, true},
		{fmt.Errorf("wrapped: %w", &SendError{Permanent: true, Status: 400}), true},
	} {
		if got := IsPermanent(tc.err); got != tc.permanent {
			t.Errorf("IsPermanent(%v) = %t, want %t", tc.err, got, tc.permanent)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	base, maxDelay := time.Second, 10*time.Minute
	for attempt, ceiling := range []time.Duration{
		time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, 64 * time.Second, 128 * time.Second, 256 * time.Second, 512 * time.Second,
		10 * time.Minute, 10 * time.Minute,
	} {
		if got := backoffCeiling(attempt, base, maxDelay); got != ceiling {
			t.Errorf("ceiling(%d) = %v, want %v", attempt, got, ceiling)
		}
		top := backoffWith(attempt, base, maxDelay, func(n int64) int64 { return n - 1 })
		bottom := backoffWith(attempt, base, maxDelay, func(int64) int64 { return 0 })
		if top != ceiling || bottom != 0 {
			t.Errorf("attempt %d: jitter range [%v, %v], want [0, %v]", attempt, bottom, top, ceiling)
		}
		for range 200 {
			if d := Backoff(attempt, base, maxDelay); d < 0 || d > ceiling {
				t.Fatalf("Backoff(%d) = %v, outside [0, %v]", attempt, d, ceiling)
			}
		}
	}
	for _, attempt := range []int{40, 62, 63, 1000} {
		if got := backoffCeiling(attempt, base, maxDelay); got != maxDelay {
			t.Errorf("ceiling(%d) = %v, want the cap (no overflow)", attempt, got)
		}
	}
	// Full jitter means the spread covers the window, not a narrow band.
	var low, high bool
	for range 1000 {
		d := Backoff(5, base, maxDelay)
		low = low || d < 8*time.Second
		high = high || d > 24*time.Second
	}
	if !low || !high {
		t.Errorf("1000 draws of Backoff(5) did not spread over [0, 32s] (low %t, high %t)", low, high)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"120", 120 * time.Second},
		{" 7 ", 7 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"Fri, 10 Apr 2026 12:00:30 GMT", 30 * time.Second},
		{"Friday, 10-Apr-26 12:01:00 GMT", time.Minute}, // RFC 850
		{"Fri Apr 10 12:02:00 2026", 2 * time.Minute},   // asctime
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"99999999999999999999", 0}, // not an int64: not a date either
	} {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := ParseRetryAfter("9223372036854775807", now); got <= 100*365*24*time.Hour {
		t.Errorf("huge Retry-After = %v, want clamped, not overflowed", got)
	}
}

func TestNextAttempt(t *testing.T) {
	now := time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC)
	expiry := now.Add(24 * time.Hour)
	// Retry-After wins over backoff, even beyond the backoff cap.
	if got := nextAttempt(now, expiry, 0, time.Hour, time.Second, time.Minute); !got.Equal(now.Add(time.Hour)) {
		t.Errorf("Retry-After 1h: next %v, want %v", got, now.Add(time.Hour))
	}
	// But never past the event's expiry.
	if got := nextAttempt(now, expiry, 0, 48*time.Hour, time.Second, time.Minute); !got.Equal(expiry) {
		t.Errorf("Retry-After 48h: next %v, want the expiry %v", got, expiry)
	}
	for range 100 {
		got := nextAttempt(now, expiry, 3, 0, time.Second, time.Minute)
		if got.Before(now) || got.After(now.Add(8*time.Second)) {
			t.Fatalf("backoff attempt 3: next %v outside [now, now+8s]", got)
		}
	}
}
