package caddymodule

import (
	"fmt"
	"reflect"
	"time"

	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/delivery"
	"github.com/saletrack/caddy-saletrack/sale"
)

// The forwarder retries publishing the spool quickly: NATS being back is
// also signalled, but a missed signal must not leave sales waiting for the
// delivery backoff's cap.
const (
	forwardBackoffBase = 100 * time.Millisecond
	forwardBackoffCap  = 5 * time.Second
)

// joinFleet makes the pipeline one node of a fleet when the config has a
// nats block: the outbox becomes the spool, emptied by the forwarder into
// the stream, and the sinks deliver from the fleet's shared consumer.
func (d *pipeline) joinFleet(a *App, sinks []delivery.Sink) error {
	if a.NATS == nil {
		return nil
	}
	d.fleetOpts = a.fleetOptions()
	d.fleet = delivery.NewFleet(d.fleetOpts, sinks, emitterOptions(a, d.logger.Named("fleet")), d.emitter.Enqueue, d.emitter.Flush)
	d.emitter.Reconfigure([]delivery.Sink{d.fleet.Forwarder()}, forwarderOptions(a, d.logger))
	d.fleet.ShareBinding(d.outbox)
	if err := d.fleet.Start(); err != nil {
		return fmt.Errorf("sale_track nats: %w", err)
	}
	return nil
}

// forwarderOptions are the spool's: it retries quickly, and what it
// forwards into the stream is not yet delivered (the fleet's consumer
// reports deliveries). A spooled sale that expires before NATS is back is
// a dead letter all the same, and is reported as one.
func forwarderOptions(a *App, logger *zap.Logger) delivery.EmitterOptions {
	opts := emitterOptions(a, logger.Named("forwarder"))
	opts.BackoffBase, opts.BackoffCap = forwardBackoffBase, forwardBackoffCap
	opts.Observe = func(o delivery.Outcome) {
		if !o.Delivered {
			observeDelivery(o)
		}
	}
	return opts
}

// reconfigureDelivery hands a reload's sinks to whoever delivers: the
// emitter alone, or in a fleet the shared consumer (the emitter keeps
// forwarding). Joining or leaving a fleet, or changing its connection,
// takes a restart: the spool and the consumer belong to the running one.
func (d *pipeline) reconfigureDelivery(a *App, sinks []delivery.Sink) {
	if d.fleet == nil {
		if a.NATS != nil {
			d.logger.Warn("nats takes effect at the next start, not on a reload: this node still works alone")
		}
		d.emitter.Reconfigure(sinks, emitterOptions(a, d.logger))
		return
	}
	if a.NATS == nil || !reflect.DeepEqual(a.fleetOptions(), d.fleetOpts) {
		d.logger.Warn("nats settings take effect at the next start, not on a reload: the node stays in its fleet as started",
			zap.String("stream", d.fleet.Options().Stream))
	}
	d.fleet.Reconfigure(sinks, emitterOptions(a, d.logger.Named("fleet")))
	d.emitter.Reconfigure([]delivery.Sink{d.fleet.Forwarder()}, forwarderOptions(a, d.logger))
}

// binding is where the routes' sales are filled from and checkouts are
// recorded: the fleet's shared bucket in a fleet, else the outbox.
func (d *pipeline) binding() delivery.Binding {
	if d.fleet != nil {
		return d.fleet.Binding()
	}
	return d.outbox
}

// commitEvent commits a captured event: to the fleet's stream (or, failing
// that, the spool) in a fleet, else to the outbox.
func (d *pipeline) commitEvent(ev *sale.Event) (delivery.EnqueueResult, error) {
	if d.fleet != nil {
		return d.fleet.Commit(ev)
	}
	return d.emitter.Enqueue(ev)
}

// stopDelivery stops the forwarder first (it publishes through the fleet),
// then the fleet's delivery.
func (d *pipeline) stopDelivery() error {
	err := d.emitter.Stop()
	if d.fleet != nil {
		if ferr := d.fleet.Stop(); ferr != nil && err == nil {
			err = ferr
		}
	}
	return err
}

// stats are the pipeline's stats: in a fleet, the outbox's numbers are
// the spool's (queued is forward_queue) and Cluster holds the fleet's.
func (d *pipeline) stats() statsView {
	v := statsView{StorageDir: d.dir, Stats: d.emitter.Stats()}
	if d.fleet != nil {
		st := d.fleet.Stats()
		v.Cluster = &st
	}
	return v
}

// deadLetters are the fleet's in a fleet (any node lists them all), else
// the outbox's. A spooled sale that could not be forwarded within
// max_event_age stays in the node's own outbox; replay finds it there too.
func (d *pipeline) deadLetters(offset, limit int) ([]delivery.DeadLetter, int, error) {
	if d.fleet != nil {
		return d.fleet.DeadLetters(offset, limit)
	}
	return d.emitter.DeadLetters(offset, limit)
}

// replay replays the outbox's dead letters and, in a fleet, the fleet's.
func (d *pipeline) replay(invoiceID string) (int, error) {
	n, err := d.emitter.Replay(invoiceID)
	if err != nil || d.fleet == nil {
		return n, err
	}
	m, err := d.fleet.Replay(invoiceID)
	return n + m, err
}

// flush retries everything now: the spool and, in a fleet, every event the
// fleet waits to retry.
func (d *pipeline) flush() error {
	d.emitter.Flush()
	if d.fleet != nil {
		return d.fleet.Flush()
	}
	return nil
}
