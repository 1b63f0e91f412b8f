package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/sale"
)

// headerSince carries where an event's age starts (its capture, or the
// replay of its dead letter), as the outbox's record does.
const headerSince = "Saletrack-Since"

// Commit commits a captured event to the fleet: it claims the invoice,
// publishes the event and waits for JetStream's acknowledgement, up to
// PublishTimeout. When that fails the event is spooled to the node's
// outbox, for Forwarder to publish later; the result is then the spool's.
// It returns once the event is committed one way or the other.
func (f *Fleet) Commit(ev *sale.Event) (EnqueueResult, error) {
	if f.ready.Load() && f.nc.IsConnected() {
		ctx, cancel := context.WithTimeout(context.Background(), f.opts.PublishTimeout)
		res, err := f.publishClaimed(ctx, ev, ev.CapturedAt)
		cancel()
		if err == nil {
			if res == Duplicate {
				f.duplicates.Add(1)
			} else {
				f.published.Add(1)
			}
			f.learn(ev)
			return res, nil
		}
		f.log().Debug("event not acknowledged by nats in time: spooled", zap.String("event_id", ev.ID), zap.Error(err))
	}
	f.spooled.Add(1)
	return f.spool(ev)
}

// errHeldElsewhere: another node claimed the invoice and should be
// publishing it. The event is spooled all the same: if that node died
// before publishing, the forwarder takes the claim over once it is stale,
// so the sale is not lost for the whole dedup window.
var errHeldElsewhere = errors.New("another node holds a fresh claim on this invoice")

// publishClaimed claims the event's invoice (if it has one) and publishes
// it. A duplicate is neither published nor an error.
func (f *Fleet) publishClaimed(ctx context.Context, ev *sale.Event, since time.Time) (EnqueueResult, error) {
	f.mu.Lock()
	kv := f.kv
	f.mu.Unlock()
	if kv == nil {
		return Queued, ErrFleetDown
	}
	key := ev.DedupKey()
	if key != "" {
		res, err := f.claim(ctx, kv, key)
		switch {
		case err != nil:
			return Queued, err
		case res == duplicate:
			return Duplicate, nil
		case res == heldElsewhere:
			return Queued, errHeldElsewhere
		}
	}
	if err := f.publish(ctx, ev, since, ev.ID); err != nil {
		return Queued, err
	}
	if key != "" {
		// The event is committed: a failure here leaves a pending claim
		// that expires, and the stream's duplicate window still holds.
		if err := f.claimDoneFor(ctx, kv, key); err != nil {
			f.log().Debug("marking an invoice claim done", zap.String("event_id", ev.ID), zap.Error(err))
		}
	}
	return Queued, nil
}

// publish sends the event to the stream with msgID as Nats-Msg-Id and
// waits for the acknowledgement. Publishes are asynchronous: concurrent
// captures share the connection's writes and wait for their acks together.
func (f *Fleet) publish(ctx context.Context, ev *sale.Event, since time.Time, msgID string) error {
	data, err := ev.AppendRecord(nil)
	if err != nil {
		return err
	}
	return f.publishRecord(ctx, data, since, msgID)
}

// publishRecord is publish for an event already encoded as its record.
func (f *Fleet) publishRecord(ctx context.Context, data []byte, since time.Time, msgID string) error {
	msg := nats.NewMsg(f.opts.eventsSubject())
	msg.Data = data
	msg.Header.Set(headerSince, since.UTC().Format(time.RFC3339Nano))
	fut, err := f.js.PublishMsgAsync(msg, jetstream.WithMsgID(msgID))
	if err != nil {
		return err
	}
	select {
	case <-fut.Ok():
		return nil
	case err := <-fut.Err():
		return err
	case <-ctx.Done():
		return fmt.Errorf("no acknowledgement from nats: %w", ctx.Err())
	}
}

// Forwarder is the sink that empties the spool into the stream: the only
// sink of the node's own outbox worker in fleet mode, so a spooled event
// is deleted locally only once JetStream has it.
func (f *Fleet) Forwarder() Sink { return forwarder{f} }

type forwarder struct{ f *Fleet }

// ForwarderName is the forwarder's sink name.
const ForwarderName = "nats-forward"

func (fw forwarder) Name() string { return ForwarderName }

func (fw forwarder) Send(ctx context.Context, ev *sale.Event) error {
	f := fw.f
	if !f.ready.Load() || !f.nc.IsConnected() {
		return ErrFleetDown
	}
	ctx, cancel := context.WithTimeout(ctx, fleetCallTimeout)
	defer cancel()
	res, err := f.publishClaimed(ctx, ev, ev.CapturedAt)
	if err != nil {
		return err
	}
	if res == Duplicate {
		f.duplicates.Add(1)
	} else {
		f.forwarded.Add(1)
	}
	// The spool's outbox learned from the event as it was spooled; the
	// fleet's binding learns now, so a lesson waits out an outage with
	// its event.
	f.learn(ev)
	return nil
}
