package delivery

import (
	"context"
	"time"
)

// FleetStats is the fleet as one node sees it: the cluster's state, the
// shared queue and dead letters (fleet-wide), and this node's counters.
type FleetStats struct {
	// State is ready, connected (objects not set up yet), disconnected,
	// closed or stopped.
	State string `json:"state"`
	// Connected says whether the node has a connection to NATS.
	Connected bool `json:"connected"`
	// Server is the server the node is connected to, credentials removed.
	Server string `json:"server,omitempty"`
	// Stream and Consumer name the shared queue.
	Stream   string `json:"stream"`
	Consumer string `json:"consumer"`
	// Queued is how many events wait in the stream, fleet-wide.
	Queued uint64 `json:"queued"`
	// InFlight is how many events the fleet's nodes are sending now.
	InFlight int `json:"in_flight"`
	// Dead is how many dead letters the fleet holds.
	Dead uint64 `json:"dead"`
	// Error is why the fleet-wide numbers could not be read, if they could not.
	Error string `json:"error,omitempty"`

	// This node's counters: events it published at capture, spooled
	// (NATS did not acknowledge in time), forwarded from its spool,
	// found already claimed, delivered from the stream, moved to the dead
	// letters and replayed.
	Published    uint64               `json:"published"`
	Spooled      uint64               `json:"spooled"`
	Forwarded    uint64               `json:"forwarded"`
	Duplicates   uint64               `json:"duplicates"`
	Delivered    uint64               `json:"delivered"`
	DeadLettered uint64               `json:"dead_lettered"`
	Replayed     uint64               `json:"replayed"`
	Sinks        map[string]SinkStats `json:"sinks"`
}

// fleetStatsTimeout bounds the calls Stats makes: a scrape must not hang
// on a cluster that does not answer.
const fleetStatsTimeout = time.Second

// Connected reports whether the node has a connection to NATS.
func (f *Fleet) Connected() bool { return f.nc != nil && f.nc.IsConnected() }

// Stats reads the fleet-wide numbers from NATS and this node's counters.
func (f *Fleet) Stats() FleetStats {
	st := f.LocalStats()
	if !f.ready.Load() || !st.Connected {
		return st
	}
	ctx, cancel := context.WithTimeout(context.Background(), fleetStatsTimeout)
	defer cancel()
	if s, err := f.js.Stream(ctx, f.opts.Stream); err == nil {
		st.Queued = s.CachedInfo().State.Msgs
		if c, err := s.Consumer(ctx, f.opts.Consumer); err == nil {
			st.InFlight = c.CachedInfo().NumAckPending
		} else {
			st.Error = err.Error()
		}
	} else {
		st.Error = err.Error()
	}
	if s, err := f.js.Stream(ctx, f.opts.DeadStream); err == nil {
		st.Dead = s.CachedInfo().State.Msgs
	} else {
		st.Error = err.Error()
	}
	return st
}

// LocalStats is Stats without the fleet-wide numbers: no call to NATS, for
// a metrics scrape.
func (f *Fleet) LocalStats() FleetStats {
	st := FleetStats{
		State: f.State(), Connected: f.Connected(), Stream: f.opts.Stream, Consumer: f.opts.Consumer,
		Published: f.published.Load(), Spooled: f.spooled.Load(), Forwarded: f.forwarded.Load(),
		Duplicates: f.duplicates.Load(), Delivered: f.delivered.Load(), DeadLettered: f.deadLettered.Load(),
		Replayed: f.replayed.Load(), Sinks: f.counters.sinkStats(),
	}
	if st.Connected {
		st.Server = f.nc.ConnectedUrlRedacted()
	}
	return st
}

// Flush makes every event the fleet is waiting to retry due now: the
// shared consumer is reset to its ack floor, so events naked with a
// backoff delay are delivered again at once, on whichever node pulls
// them. An event being sent at that moment may be sent twice, under one
// idempotency key.
func (f *Fleet) Flush() error {
	if !f.ready.Load() {
		return ErrFleetDown
	}
	ctx, cancel := context.WithTimeout(context.Background(), fleetAdminTimeout)
	defer cancel()
	_, err := f.js.ResetConsumer(ctx, f.opts.Stream, f.opts.Consumer)
	return err
}
