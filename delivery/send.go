package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/saletrack/caddy-saletrack/sale"
	"go.uber.org/zap"
)

// sendOutcome is what one attempt at an event's sinks came to.
type sendOutcome struct {
	permanent  *failure // the first permanent failure, if any
	retryable  *failure // the last retryable failure, if any
	retryAfter time.Duration
	// interrupted means shutdown cancelled a send: not the sink's failure,
	// and the event stays as it was.
	interrupted bool
}

func (o sendOutcome) ok() bool { return o.permanent == nil && o.retryable == nil }

// sendAll sends ev to each sink in turn and counts every outcome. accepted
// is told of each sink that took the event, except the last one when every
// sink did: the caller completes the event instead, in one write. The
// single-node worker and the fleet's consumer both deliver through it, so
// the two classify failures alike.
func (c *emitterCounters) sendAll(ctx context.Context, log *eventLog, sinks []Sink, ev *sale.Event, accepted func(sink string)) sendOutcome {
	var out sendOutcome
	for i, s := range sinks {
		name := s.Name()
		counters := c.sink(name)
		err := s.Send(ctx, ev)
		if err == nil {
			counters.sent.Add(1)
			if log.enabled(zap.DebugLevel) {
				log.Debug("sink accepted sale", zap.String("sink", name),
					zap.String("email", ev.CustomerEmail), zap.String("name", ev.CustomerName))
			}
			if i == len(sinks)-1 && out.ok() {
				break
			}
			accepted(name)
			continue
		}
		if ctx.Err() != nil {
			log.Debug("send interrupted by shutdown", zap.String("sink", name))
			out.interrupted = true
			return out
		}
		f := failure{sink: name, err: err.Error()}
		var se *SendError
		if errors.As(err, &se) {
			f.status, f.body, f.location = se.Status, se.Body, se.Location
			out.retryAfter = max(out.retryAfter, se.RetryAfter)
		}
		if IsPermanent(err) {
			counters.failed.Add(1)
			if out.permanent == nil {
				out.permanent = &f
			}
		} else {
			counters.retried.Add(1)
			out.retryable = &f
		}
	}
	return out
}

// deathReason is why an event became a dead letter: code is its kind
// (permanent, expired, undecodable), for counts; text is what the dead
// letter and the log say.
type deathReason struct{ code, text string }

// permanentReason is a dead letter's reason for a permanent failure.
func permanentReason(f *failure) deathReason {
	r := deathReason{code: "permanent"}
	switch {
	case f.location != "":
		r.text = fmt.Sprintf("permanent: %d redirect to %s, never followed", f.status, f.location)
	case f.status != 0:
		r.text = fmt.Sprintf("permanent: %d", f.status)
	default:
		r.text = "permanent: " + f.err
	}
	return r
}

// expiredReason is a dead letter's reason for an event retried too long.
func expiredReason(maxAge time.Duration) deathReason {
	return deathReason{code: "expired", text: "expired after " + maxAge.String()}
}

// undecodableReason is a dead letter's reason for a stored record (what:
// "record" or "event") that cannot be read back.
func undecodableReason(what string) deathReason {
	return deathReason{code: "undecodable", text: "undecodable " + what}
}
