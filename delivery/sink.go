package delivery

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/saletrack/caddy-saletrack/sale"
)

// Sink is one destination a sale is delivered to. The emitter calls Send
// from several goroutines at once, so implementations must be safe for
// concurrent use.
type Sink interface {
	// Name is stable across restarts and reloads: the outbox records which
	// sinks accepted an event by this name, so a sink that accepted is never
	// sent the event again while another sink is still retrying. Two sinks
	// in one emitter must not share a name.
	Name() string
	// Send delivers one event. A nil error means the sink accepted it. A
	// *SendError says whether a failure is worth retrying; any other error
	// is treated as a retryable (network) failure. Send must honour ctx:
	// the emitter cancels it on shutdown.
	Send(ctx context.Context, ev *sale.Event) error
}

// maxBodySnippet is how much of a failed response body is kept, so a dead
// letter can explain itself without storing whole error pages.
const maxBodySnippet = 512

// SendError classifies a failed send. A plain non-SendError error counts as
// retryable (network).
type SendError struct {
	// Permanent means retrying cannot help (a 4xx other than 408, 425, 429);
	// the event becomes a dead letter at once.
	Permanent bool
	// Status is the HTTP status, 0 if there was no response.
	Status int
	// Body is the first 512 bytes of the response body.
	Body string
	// RetryAfter is the platform's Retry-After (seconds or HTTP date), 0 if
	// none was given.
	RetryAfter time.Duration
	// Location is where a 3xx pointed (query and credentials removed): a
	// redirect is never followed, and the owner fixes the endpoint.
	Location string
	// Err is the underlying cause, if any.
	Err error
}

// Error describes the failure: the status, the retry hint and a short
// extract of the body, never request headers.
func (e *SendError) Error() string {
	var b strings.Builder
	kind := "retryable"
	if e.Permanent {
		kind = "permanent"
	}
	b.WriteString(kind)
	b.WriteString(" send failure")
	if e.Status != 0 {
		fmt.Fprintf(&b, ": status %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Body != "" {
		body := e.Body
		if len(body) > 120 {
			body = body[:120] + "…"
		}
		fmt.Fprintf(&b, ": body %q", body)
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *SendError) Unwrap() error { return e.Err }
