package delivery

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/sale"
)

// cancelGrace is how long Stop waits for cancelled sends to return. A sink
// that honours its context returns at once; one that does not is left
// behind (its event stays marked busy) rather than holding up shutdown.
const cancelGrace = time.Second

// Outbox read errors are retried with a growing pause, never in a loop.
const (
	leaseErrorPause    = time.Second
	leaseErrorPauseMax = 30 * time.Second
)

// run is the worker loop: lease what is due, up to Concurrency at a time,
// and sleep until something changes (an Enqueue, a finished send, the
// earliest next attempt, a reconfigure). Events wait on disk; in memory
// are only the ones being sent and, for their first attempt, up to
// freshMax just committed (outbox_fresh.go).
func (e *Emitter) run(leaseCtx context.Context, done chan<- struct{}) {
	defer close(done)
	sendCtx, cancelSends := context.WithCancel(context.Background())
	defer cancelSends()
	var sends sync.WaitGroup

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	sweep := time.NewTicker(e.sweepEvery)
	defer sweep.Stop()
	e.sweepExpired()

	pause := time.Duration(0)
	var lastLease time.Time
	for {
		// Read before the config and the lease: a Flush (which a caller
		// may precede with a Reconfigure) that is not counted here is
		// noticed when a send of this round reschedules.
		flushes := e.flushes.Load()
		cfg := e.config()
		wait := time.Duration(-1) // no timer: wait for a signal
		free := cfg.opts.Concurrency - e.inFlight()
		// While outbox writes fail, lease slowly (see writeHoldOff). With
		// no sinks, every event would count as delivered to all of them
		// and be deleted: hold the queue until a Reconfigure.
		if holdOff := e.writeHoldOff(lastLease); holdOff > 0 {
			wait = holdOff
		} else if free > 0 && len(cfg.sinks) > 0 {
			now := cfg.opts.Now()
			lastLease = time.Now()
			e.leaseMu.Lock()
			items, next, err := e.ob.lease(now, free, e.isBusy)
			for _, it := range items {
				e.setBusy(it.seq, true)
			}
			e.leaseMu.Unlock()
			if err != nil {
				pause = min(max(pause*2, leaseErrorPause), leaseErrorPauseMax)
				cfg.opts.Logger.Error("reading due events from the outbox", zap.Error(err), zap.Duration("retry_in", pause))
				wait = pause
			} else {
				pause = 0
			}
			for _, it := range items {
				sends.Add(1)
				go func() {
					defer sends.Done()
					defer e.signal()
					defer e.release(it.seq)
					e.deliver(sendCtx, cfg, it, flushes)
				}()
			}
			// With slots left, nothing else is due now: sleep until next.
			if err == nil && len(items) < free && !next.IsZero() {
				wait = max(next.Sub(now), 0)
			}
		}
		var timerC <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			timerC = timer.C
		}
		select {
		case <-leaseCtx.Done():
			e.drain(cfg, &sends, cancelSends)
			return
		case <-e.wake:
		case <-timerC:
		case <-sweep.C:
			e.sweepExpired()
		}
		timer.Stop() // since Go 1.23 a stopped timer holds no stale tick
	}
}

// drain waits for running sends up to ShutdownTimeout, then cancels them
// and waits briefly for them to notice.
func (e *Emitter) drain(cfg *emitterConfig, sends *sync.WaitGroup, cancelSends context.CancelFunc) {
	finished := make(chan struct{})
	go func() { sends.Wait(); close(finished) }()
	grace := time.NewTimer(cfg.opts.ShutdownTimeout)
	defer grace.Stop()
	select {
	case <-finished:
		return
	case <-grace.C:
	}
	cancelSends()
	cfg.opts.Logger.Warn("cancelled sends still running at shutdown; their events stay queued for the next start",
		zap.Int("in_flight", e.inFlight()), zap.Duration("shutdown_timeout", cfg.opts.ShutdownTimeout))
	grace.Reset(cancelGrace)
	select {
	case <-finished:
	case <-grace.C:
	}
}

// sweepExpired deletes expired dedup keys and bindings.
func (e *Emitter) sweepExpired() {
	cfg := e.config()
	n, err := e.ob.sweepDedup(cfg.opts.Now())
	if err != nil {
		cfg.opts.Logger.Error("deleting expired dedup keys", zap.Error(err))
		return
	}
	if n > 0 {
		cfg.opts.Logger.Debug("deleted expired dedup keys", zap.Int("count", n))
	}
	n, err = e.ob.sweepBindings(cfg.opts.Now())
	if err != nil {
		cfg.opts.Logger.Error("deleting expired bindings", zap.Error(err))
		return
	}
	if n > 0 {
		cfg.opts.Logger.Debug("deleted expired bindings", zap.Int("count", n))
	}
}

// deliver sends one leased event to every sink that has not accepted it,
// recording each acceptance as it happens, then deletes the event, moves
// it to the dead letters, or schedules the next attempt. flushes is the
// Flush count seen before the event was leased.
func (e *Emitter) deliver(ctx context.Context, cfg *emitterConfig, it leased, flushes uint64) {
	log := newEventLog(cfg.opts.Logger, it.seq)
	if it.err != nil {
		e.bury(&log, cfg, it, nil, undecodableReason("record"), failure{err: it.err.Error()})
		return
	}
	ev, err := it.event()
	if err != nil {
		e.bury(&log, cfg, it, nil, undecodableReason("event"), failure{err: err.Error()})
		return
	}
	log.named(ev)

	var pending []Sink
	for _, s := range cfg.sinks {
		if !it.rec.accepted(s.Name()) {
			pending = append(pending, s)
		}
	}
	out := e.counters.sendAll(ctx, &log, pending, ev, func(name string) {
		if err := e.ob.accept(it.seq, name); err != nil {
			// The sink may get the event again; its idempotency key
			// (or the file's reader) has to cope. Nothing is lost.
			log.Error("recording a sink's acceptance", zap.String("sink", name), zap.Error(err))
			e.writeFailures.Add(1)
		}
	})
	if out.interrupted {
		return // the event is sent on the next start
	}
	permanent, retryable, retryAfter := out.permanent, out.retryable, out.retryAfter

	now := cfg.opts.Now()
	switch {
	case permanent != nil:
		e.bury(&log, cfg, it, ev, permanentReason(permanent), *permanent)
	case retryable != nil:
		expiry := it.rec.Since.Add(cfg.opts.MaxEventAge)
		if !now.Before(expiry) {
			e.bury(&log, cfg, it, ev, expiredReason(cfg.opts.MaxEventAge), *retryable)
			return
		}
		next := nextAttempt(now, expiry, it.rec.Attempts, retryAfter, cfg.opts.BackoffBase, cfg.opts.BackoffCap)
		// Flush counts first and rewrites the queue second, so checking the
		// count inside the reschedule transaction catches a flush that
		// ran during the send whichever commits first.
		flushed := func(next time.Time) time.Time {
			if e.flushes.Load() != flushes {
				return now
			}
			return next
		}
		log.Debug("send failed; will retry", zap.String("sink", retryable.sink),
			zap.Int("status", retryable.status), zap.String("error", retryable.err),
			zap.Int("attempt", it.rec.Attempts+1), zap.Time("next_attempt", next))
		if err := e.ob.reschedule(it.seq, next, *retryable, flushed); err != nil {
			log.Error("scheduling a retry", zap.Error(err))
			e.writeFailures.Add(1)
		} else {
			e.writeFailures.Store(0)
		}
	default:
		if found, err := e.ob.complete(it.seq); err != nil {
			log.Error("deleting a delivered event", zap.Error(err))
			e.writeFailures.Add(1)
		} else {
			e.writeFailures.Store(0)
			if found {
				e.counters.delivered.Add(1)
				cfg.opts.observe(Outcome{Event: ev, Delivered: true})
			}
		}
	}
}

// bury moves an event to the dead letters: the one place an event leaves
// the queue undelivered, so the one place that warns.
// ev is nil when the record could not be decoded.
func (e *Emitter) bury(log *eventLog, cfg *emitterConfig, it leased, ev *sale.Event, reason deathReason, f failure) {
	// The error text can quote the platform's response body, which may echo
	// an email or a name: it stays at DEBUG, and in the dead letter.
	log.Warn("sale moved to dead letters", zap.String("reason", reason.text), zap.String("sink", f.sink),
		zap.Int("status", f.status), zap.Int("attempts", it.rec.Attempts+1))
	log.Debug("dead letter's last error", zap.String("sink", f.sink), zap.String("error", f.err))
	if err := e.ob.bury(it.seq, it.due, reason.text, f, cfg.opts.Now()); err != nil {
		log.Error("moving an event to the dead letters; it stays queued", zap.Error(err))
		e.writeFailures.Add(1)
	} else {
		e.writeFailures.Store(0)
		cfg.opts.observe(Outcome{Event: ev, Reason: reason.text, Code: reason.code})
	}
}

// writeHoldOff is how long to wait before the next lease while outbox
// writes fail: leaseErrorPause doubling per consecutive failure, up to
// leaseErrorPauseMax, counted from the last lease. Zero when writes work.
func (e *Emitter) writeHoldOff(lastLease time.Time) time.Duration {
	n := e.writeFailures.Load()
	if n == 0 {
		return 0
	}
	pause := leaseErrorPause << min(n-1, 5)
	pause = min(pause, leaseErrorPauseMax)
	return time.Until(lastLease.Add(pause))
}
