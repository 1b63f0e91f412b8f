package delivery

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/saletrack/caddy-saletrack/sale"
	"go.uber.org/zap"
)

// Defaults for EmitterOptions.
const (
	DefaultConcurrency     = 4
	DefaultBackoffBase     = time.Second
	DefaultBackoffCap      = 10 * time.Minute
	DefaultMaxEventAge     = 168 * time.Hour
	DefaultShutdownTimeout = 5 * time.Second
)

// dedupSweepEvery is how often the worker deletes expired dedup keys and
// bindings. Expired entries are already ignored by their readers; the
// sweep only reclaims space, so it need not be frequent.
const dedupSweepEvery = 5 * time.Minute

// EmitterOptions tunes delivery. The zero value is usable.
type EmitterOptions struct {
	Concurrency     int              // parallel sends; 0 means 4
	BackoffBase     time.Duration    // 0 means 1s
	BackoffCap      time.Duration    // 0 means 10m
	MaxEventAge     time.Duration    // 0 means 168h; older undelivered events become dead letters
	ShutdownTimeout time.Duration    // 0 means 5s
	Logger          *zap.Logger      // nil means zap.NewNop()
	Now             func() time.Time // nil means time.Now; tests inject a clock
	// Observe, when set, is called from the worker once an event is
	// delivered or moved to the dead letters. It must return quickly.
	Observe func(Outcome)
}

func (o EmitterOptions) withDefaults() EmitterOptions {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffCap <= 0 {
		o.BackoffCap = DefaultBackoffCap
	}
	if o.BackoffCap < o.BackoffBase {
		o.BackoffCap = o.BackoffBase
	}
	if o.MaxEventAge <= 0 {
		o.MaxEventAge = DefaultMaxEventAge
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// emitterConfig is what Reconfigure swaps atomically. Each delivery takes
// one snapshot, so an event is judged against one consistent set of sinks.
type emitterConfig struct {
	sinks []Sink
	opts  EmitterOptions
}

// Emitter is the background worker that delivers queued events to the
// sinks: it leases due events from the outbox, sends them with bounded
// concurrency, retries with backoff, and records every outcome in the
// outbox. One Emitter should own an Outbox; two would send the same events
// twice.
type Emitter struct {
	ob   *Outbox
	cfg  atomic.Pointer[emitterConfig]
	wake chan struct{} // capacity 1: signals coalesce

	// life serialises Start and Stop, so at most one worker loop runs.
	life        sync.Mutex
	cancelLease context.CancelFunc // non-nil while running
	loopDone    chan struct{}

	// busy holds the events being sent. It outlives a worker loop: a send
	// that ignored cancellation on Stop stays here, so a restarted loop
	// does not send the same event alongside it.
	busyMu sync.Mutex
	busy   map[uint64]struct{}
	// writeFailures counts consecutive failed bookkeeping writes (a
	// reschedule, a delete, a dead letter): while the outbox refuses writes,
	// a due event's time cannot move, so the worker slows its leasing down
	// instead of resending that event in a tight loop.
	writeFailures atomic.Int64

	// leaseMu makes a lease and the end of a send exclusive. A lease reads
	// a bbolt snapshot: if a send could finish (its event deleted, its busy
	// mark cleared) after that snapshot was taken, the stale snapshot would
	// still list the event and the cleared mark would let it be sent again.
	leaseMu sync.Mutex

	// flushes counts Flush calls, so a send that was in flight during a
	// flush retries at once instead of waiting out a backoff the flush
	// meant to cancel.
	flushes atomic.Uint64

	counters   emitterCounters
	sweepEvery time.Duration
}

// NewEmitter returns a stopped emitter delivering ob's events to sinks.
// With no sinks it delivers nothing and keeps every event queued.
func NewEmitter(ob *Outbox, sinks []Sink, opts EmitterOptions) *Emitter {
	e := &Emitter{
		ob:         ob,
		wake:       make(chan struct{}, 1),
		busy:       make(map[uint64]struct{}),
		sweepEvery: dedupSweepEvery,
	}
	e.setConfig(sinks, opts)
	return e
}

func (e *Emitter) setConfig(sinks []Sink, opts EmitterOptions) {
	opts = opts.withDefaults()
	seen := make(map[string]bool, len(sinks))
	for _, s := range sinks {
		if seen[s.Name()] {
			opts.Logger.Warn("two sinks share a name; an event accepted by one counts as accepted by both",
				zap.String("sink", s.Name()))
		}
		seen[s.Name()] = true
		e.counters.sink(s.Name()) // so a configured sink reports zeros, not nothing
	}
	e.cfg.Store(&emitterConfig{sinks: append([]Sink(nil), sinks...), opts: opts})
}

func (e *Emitter) config() *emitterConfig { return e.cfg.Load() }

// Start starts the worker on a context the emitter owns, not a caller's:
// delivery must outlive the request or config that started it. Starting a
// running emitter does nothing; a stopped one may be started again.
func (e *Emitter) Start() {
	e.life.Lock()
	defer e.life.Unlock()
	if e.cancelLease != nil {
		return
	}
	leaseCtx, cancelLease := context.WithCancel(context.Background())
	done := make(chan struct{})
	e.cancelLease, e.loopDone = cancelLease, done
	go e.run(leaseCtx, done)
}

// Stop stops leasing new work, gives in-flight sends up to ShutdownTimeout
// and then cancels them. Their events stay in the outbox and are sent on
// the next start. Stop does not close the outbox. It returns an error only
// when a sink ignored cancellation and is still running.
func (e *Emitter) Stop() error {
	e.life.Lock()
	defer e.life.Unlock()
	if e.cancelLease == nil {
		return nil
	}
	e.cancelLease()
	<-e.loopDone
	e.cancelLease, e.loopDone = nil, nil
	if n := e.inFlight(); n > 0 {
		return &stopError{inFlight: n}
	}
	return nil
}

// stopError reports sends that outlived Stop.
type stopError struct{ inFlight int }

// Error says what Stop left behind.
func (s *stopError) Error() string {
	return "emitter stopped with sends still running that ignored cancellation; their events stay queued"
}

// Reconfigure takes new sinks and options on a config reload without
// restarting the worker or losing anything. Sends already running finish
// on the sinks they started with; a caller that closes the old sinks at
// once costs those events at most one retry.
func (e *Emitter) Reconfigure(sinks []Sink, opts EmitterOptions) {
	e.setConfig(sinks, opts)
	e.signal()
}

// Enqueue commits ev to the outbox (fsync'd, see Outbox.Enqueue) and then
// wakes the worker. It returns only after the commit, and works whether or
// not the worker runs: a sale captured during a reload is kept. As with
// Outbox.Enqueue, ev must not change once it is handed over.
func (e *Emitter) Enqueue(ev *sale.Event) (EnqueueResult, error) {
	res, err := e.ob.Enqueue(ev)
	if err == nil && res == Queued {
		e.signal()
	}
	return res, err
}

// Flush makes every queued event due now, ignoring backoff, and wakes the
// worker: for an operator who fixed the platform and does not want to
// wait.
func (e *Emitter) Flush() {
	e.flushes.Add(1)
	cfg := e.config()
	if n, err := e.ob.makeAllDue(cfg.opts.Now()); err != nil {
		cfg.opts.Logger.Error("flushing the outbox", zap.Int("made_due", n), zap.Error(err))
	}
	e.signal()
}

// Stats returns a snapshot of queue gauges and counters.
func (e *Emitter) Stats() Stats {
	ob := e.ob
	st := Stats{
		Queued:          ob.queued.Load(),
		InFlight:        int64(e.inFlight()),
		Dead:            ob.dead.Load(),
		Enqueued:        ob.enqueued.Load(),
		Duplicates:      ob.duplicates.Load(),
		StorageFailures: ob.storageFailures.Load(),
		DeadLettered:    ob.deadLettered.Load(),
		Delivered:       e.counters.delivered.Load(),
		Replayed:        e.counters.replayed.Load(),
		BindingsLearned: ob.bindingsLearned.Load(),
		Sinks:           e.counters.sinkStats(),
	}
	if since, ok, err := ob.oldest(); err == nil && ok {
		if age := e.config().opts.Now().Sub(since).Seconds(); age > 0 {
			st.OldestAgeSeconds = age
		}
	}
	return st
}

// DeadLetters returns one page of dead letters, oldest first, and how many
// there are. limit <= 0 means 100; limit is capped at 1000.
func (e *Emitter) DeadLetters(offset, limit int) (letters []DeadLetter, total int, err error) {
	return e.ob.deadLetters(offset, limit)
}

// Replay moves dead letters back into the queue, due now, with fresh
// attempts and a fresh MaxEventAge, keeping their ID and the sinks that
// already accepted them. invoiceID "" replays all of them. It returns how
// many it moved.
func (e *Emitter) Replay(invoiceID string) (int, error) {
	n, err := e.ob.replay(invoiceID, e.config().opts.Now())
	if n > 0 {
		e.counters.replayed.Add(uint64(n))
		e.signal()
	}
	return n, err
}

// signal wakes the worker without blocking; one pending signal is enough.
func (e *Emitter) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *Emitter) inFlight() int {
	e.busyMu.Lock()
	defer e.busyMu.Unlock()
	return len(e.busy)
}

func (e *Emitter) isBusy(seq uint64) bool {
	e.busyMu.Lock()
	defer e.busyMu.Unlock()
	_, ok := e.busy[seq]
	return ok
}

// release ends a send: it waits for a lease in progress, so every later
// lease starts from a snapshot taken after the send's own commit.
func (e *Emitter) release(seq uint64) {
	e.leaseMu.Lock()
	defer e.leaseMu.Unlock()
	e.setBusy(seq, false)
}

func (e *Emitter) setBusy(seq uint64, on bool) {
	e.busyMu.Lock()
	defer e.busyMu.Unlock()
	if on {
		e.busy[seq] = struct{}{}
	} else {
		delete(e.busy, seq)
	}
}
