package delivery

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/sale"
)

// dispatch hands a message from the shared consumer to a delivery worker,
// waiting for a free slot: at most Concurrency sends run on this node.
func (f *Fleet) dispatch(msg jetstream.Msg) {
	f.slots <- struct{}{}
	// Stop waits for the sends it counts; one the consumer handed over
	// as Stop began is handed back instead, so no send is counted after
	// Stop started waiting.
	f.dispatchMu.RLock()
	if f.dispatchClosed {
		f.dispatchMu.RUnlock()
		<-f.slots
		_ = msg.Nak()
		return
	}
	f.sends.Add(1)
	f.dispatchMu.RUnlock()
	go func() {
		defer f.sends.Done()
		defer func() { <-f.slots }()
		f.deliver(f.sendCtx, msg)
	}()
}

// deliver sends one event from the stream to this node's sinks and then
// acknowledges it (every sink took it), naks it with the retry's delay,
// or moves it to the dead letters. Acks are per message and double-acked,
// so an event is gone from the stream only once the server says so.
func (f *Fleet) deliver(ctx context.Context, msg jetstream.Msg) {
	cfg := f.cfg.Load()
	meta, err := msg.Metadata()
	if err != nil {
		f.log().Error("nats message without metadata", zap.Error(err))
		_ = msg.Nak()
		return
	}
	log := newEventLog(cfg.opts.Logger, meta.Sequence.Stream)
	attempt := int(meta.NumDelivered) - 1
	ev, err := sale.DecodeRecord(msg.Data())
	if err != nil {
		f.bury(&log, msg, nil, attempt, undecodableReason("event"), failure{err: err.Error()})
		return
	}
	log.named(ev)
	since := ev.CapturedAt
	if t, err := time.Parse(time.RFC3339Nano, msg.Headers().Get(headerSince)); err == nil {
		since = t
	}
	if len(cfg.sinks) == 0 {
		_ = msg.NakWithDelay(time.Second) // no sinks (yet): another node, or a reload, delivers it
		return
	}
	out := f.sendInOrder(ctx, &log, cfg.sinks, ev)
	now := cfg.opts.Now()
	switch {
	case out.interrupted:
		_ = msg.Nak() // shutting down: another node takes it now
	case out.permanent != nil:
		f.bury(&log, msg, ev, attempt, permanentReason(out.permanent), *out.permanent)
	case out.retryable != nil:
		expiry := since.Add(cfg.opts.MaxEventAge)
		if !now.Before(expiry) {
			f.bury(&log, msg, ev, attempt, expiredReason(cfg.opts.MaxEventAge), *out.retryable)
			return
		}
		next := nextAttempt(now, expiry, attempt, out.retryAfter, cfg.opts.BackoffBase, cfg.opts.BackoffCap)
		log.Debug("send failed; will retry", zap.String("sink", out.retryable.sink),
			zap.Int("status", out.retryable.status), zap.String("error", out.retryable.err),
			zap.Int("attempt", attempt+1), zap.Time("next_attempt", next))
		if err := msg.NakWithDelay(next.Sub(now)); err != nil {
			log.Debug("nak failed; the event comes back after ack_wait", zap.Error(err))
		}
	default:
		ackCtx, cancel := context.WithTimeout(context.Background(), fleetCallTimeout)
		err := msg.DoubleAck(ackCtx)
		cancel()
		if err != nil {
			// The stream may send it again; the platform sees the same
			// idempotency key.
			log.Warn("acknowledging a delivered event failed; it may be sent again", zap.Error(err))
			return
		}
		f.delivered.Add(1)
		cfg.opts.observe(Outcome{Event: ev, Delivered: true})
	}
}

// sendInOrder sends to each sink in turn and stops at the first failure.
// The stream cannot record which sinks took an event, so a retry sends to
// all of them again: stopping keeps a later sink (the file) from taking
// the event once per failed attempt of an earlier one (the platform).
func (f *Fleet) sendInOrder(ctx context.Context, log *eventLog, sinks []Sink, ev *sale.Event) sendOutcome {
	var out sendOutcome
	for _, s := range sinks {
		if out = f.counters.sendAll(ctx, log, []Sink{s}, ev, func(string) {}); !out.ok() || out.interrupted {
			return out
		}
	}
	return out
}

// bury publishes a dead letter to the dead-letter stream and, once that is
// acknowledged, removes the event from the work queue. If the dead letter
// cannot be stored, the event is retried later instead: nothing leaves the
// stream without a trace.
func (f *Fleet) bury(log *eventLog, msg jetstream.Msg, ev *sale.Event, attempt int, reason deathReason, fl failure) {
	cfg := f.cfg.Load()
	log.Warn("sale moved to dead letters", zap.String("reason", reason.text), zap.String("sink", fl.sink),
		zap.Int("status", fl.status), zap.Int("attempts", attempt+1))
	log.Debug("dead letter's last error", zap.String("sink", fl.sink), zap.String("error", fl.err))
	dr := deadRecord{Reason: reason.text, Sink: fl.sink, Status: fl.status, Body: fl.body, Error: fl.err,
		Attempts: attempt + 1, At: cfg.opts.Now()}
	if ev != nil {
		dr.Event = msg.Data()
	} else {
		dr.Raw = msg.Data()
	}
	value, err := json.Marshal(&dr)
	if err == nil {
		meta, _ := msg.Metadata()
		out := nats.NewMsg(f.opts.deadSubject())
		out.Data = value
		ctx, cancel := context.WithTimeout(context.Background(), fleetCallTimeout)
		// The id makes a second try of the same burial a no-op.
		_, err = f.js.PublishMsg(ctx, out, jetstream.WithMsgID("dead-"+strconv.FormatUint(meta.Sequence.Stream, 10)))
		if err == nil {
			err = msg.DoubleAck(ctx)
		}
		cancel()
	}
	if err != nil {
		log.Error("storing a dead letter failed; the event stays queued", zap.Error(err))
		_ = msg.NakWithDelay(cfg.opts.BackoffBase)
		return
	}
	f.deadLettered.Add(1)
	cfg.opts.observe(Outcome{Event: ev, Reason: reason.text, Code: reason.code})
}
