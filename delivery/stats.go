package delivery

import (
	"sync"
	"sync/atomic"
)

// Stats is a snapshot of the delivery pipeline, for metrics and the admin
// API. Gauges describe now; counters are cumulative since the outbox (for
// queue counters) or the emitter (for sink counters) was created.
type Stats struct {
	// Queued is how many events wait in the outbox, in flight included.
	Queued int64 `json:"queued"`
	// InFlight is how many events are being sent right now.
	InFlight int64 `json:"in_flight"`
	// Dead is how many dead letters the outbox holds.
	Dead int64 `json:"dead"`
	// OldestAgeSeconds is the age of the oldest queued event (from its
	// capture, or its replay), 0 when the queue is empty.
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`

	// Enqueued counts events committed to the outbox.
	Enqueued uint64 `json:"enqueued"`
	// Duplicates counts captures dropped as repeats of a queued invoice.
	Duplicates uint64 `json:"duplicates"`
	// StorageFailures counts captures that could not be committed (storage
	// full, I/O error, outbox closed): sales that were lost.
	StorageFailures uint64 `json:"storage_failures"`
	// DeadLettered counts events moved to the dead letters.
	DeadLettered uint64 `json:"dead_lettered"`
	// Delivered counts events every sink accepted.
	Delivered uint64 `json:"delivered"`
	// Replayed counts dead letters put back into the queue.
	Replayed uint64 `json:"replayed"`
	// BindingsLearned counts binding entries written: a customer's click,
	// an email's customer, a checkout reference's click and customer.
	BindingsLearned uint64 `json:"bindings_learned"`

	// Sinks holds per-sink counters by sink name.
	Sinks map[string]SinkStats `json:"sinks"`
}

// SinkStats counts one sink's send outcomes.
type SinkStats struct {
	// Sent counts events the sink accepted.
	Sent uint64 `json:"sent"`
	// Retried counts retryable failures (each schedules a retry or, past
	// MaxEventAge, a dead letter).
	Retried uint64 `json:"retried"`
	// Failed counts permanent failures.
	Failed uint64 `json:"failed"`
}

// sinkCounters are the live counters behind SinkStats.
type sinkCounters struct {
	sent, retried, failed atomic.Uint64
}

// emitterCounters are the emitter's cumulative counters. Sinks are kept by
// name across Reconfigure, so a counter never goes backwards.
type emitterCounters struct {
	delivered atomic.Uint64
	replayed  atomic.Uint64

	mu    sync.Mutex
	sinks map[string]*sinkCounters
}

func (c *emitterCounters) sink(name string) *sinkCounters {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sinks == nil {
		c.sinks = make(map[string]*sinkCounters)
	}
	sc, ok := c.sinks[name]
	if !ok {
		sc = new(sinkCounters)
		c.sinks[name] = sc
	}
	return sc
}

func (c *emitterCounters) sinkStats() map[string]SinkStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]SinkStats, len(c.sinks))
	for name, sc := range c.sinks {
		out[name] = SinkStats{Sent: sc.sent.Load(), Retried: sc.retried.Load(), Failed: sc.failed.Load()}
	}
	return out
}
