package delivery

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/saletrack/caddy-saletrack/sale"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"
)

// Defaults for OutboxOptions.
const (
	DefaultOutboxMaxSize     int64 = 1 << 30
	DefaultDedupWindow             = 720 * time.Hour
	DefaultOutboxOpenTimeout       = 5 * time.Second
)

// Bucket names. The due index orders queued events by next attempt so the
// worker finds due work without reading every record.
var (
	bucketEvents = []byte("events") // seq → record
	bucketDue    = []byte("due")    // nextAttempt(8) ‖ seq(8) → nil
	bucketDedup  = []byte("dedup")  // invoiceId → expiry (unix nanos, 8 bytes)
	bucketDead   = []byte("dead")   // seq → deadRecord
)

// appendFill is how full bbolt packs a page it splits in the events and
// due buckets. Their keys grow with time, so new records land at the end:
// bbolt's default of half-full pages suits random keys, and here it left
// every page half empty, doubling the file (and the memory map's pages in
// RSS) while the platform is down.
const appendFill = 0.95

// ErrStorageFull is returned (wrapped) when bbolt refuses the write
// because the outbox reached MaxSize or the disk is full.
var ErrStorageFull = errors.New("outbox: storage full")

// ErrClosed is returned when the outbox is closed.
var ErrClosed = errors.New("outbox: closed")

// OutboxOptions tunes an Outbox. The zero value is usable.
type OutboxOptions struct {
	MaxSize     int64            // bbolt MaxSize in bytes; 0 means 1 GiB
	DedupWindow time.Duration    // 0 means 720h
	OpenTimeout time.Duration    // bbolt file-lock timeout; 0 means 5s
	Now         func() time.Time // nil means time.Now; tests inject a clock
	Logger      *zap.Logger      // nil means zap.NewNop()
	Binding     BindingOptions   // what the binding keeps, and for how long
}

func (o OutboxOptions) withDefaults() OutboxOptions {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultOutboxMaxSize
	}
	if o.DedupWindow <= 0 {
		o.DedupWindow = DefaultDedupWindow
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = DefaultOutboxOpenTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	o.Binding = o.Binding.withDefaults()
	return o
}

// EnqueueResult says what Enqueue did with an event.
type EnqueueResult int

const (
	// Queued means the event is committed and will be delivered.
	Queued EnqueueResult = iota
	// Duplicate means an event with the same invoice id was queued within
	// the dedup window; nothing was written.
	Duplicate
)

// String returns "queued" or "duplicate".
func (r EnqueueResult) String() string {
	if r == Duplicate {
		return "duplicate"
	}
	return "queued"
}

// Outbox is the durable queue between capture and delivery: a bbolt file
// holding queued events, invoice dedup keys and dead letters. It is safe
// for concurrent use. One process, and within it one Emitter, should own a
// given file: bbolt's file lock enforces the first, the caller the second.
type Outbox struct {
	path string
	opts OutboxOptions
	log  *zap.Logger

	// mu guards closed against Close: operations hold it shared so Close
	// waits for them instead of pulling the file out from under them.
	mu     sync.RWMutex
	closed bool
	db     *bolt.DB
	// generation counts the files this outbox has run on: a damaged one
	// is replaced once, however many operations found the damage.
	generation uint64
	// lastSeq is the highest event sequence handed out. A file that
	// replaces a damaged one continues after it, so a send still in flight
	// from the damaged file can never complete an event of the new one.
	lastSeq atomic.Uint64
	// commits shares fsync'd transactions among concurrent writes.
	commits *groupCommitter
	// fresh hands just-committed events to their first attempt.
	fresh freshEvents

	// key hashes the binding's emails and customer ids; binding holds the
	// settings in force, which a reload may change.
	key     bindingKey
	binding atomic.Pointer[BindingOptions]

	queued atomic.Int64 // events in the events bucket
	dead   atomic.Int64 // records in the dead bucket

	enqueued        atomic.Uint64
	duplicates      atomic.Uint64
	storageFailures atomic.Uint64
	deadLettered    atomic.Uint64
	bindingsLearned atomic.Uint64
}

// OpenOutbox opens (or creates) the outbox at path. The parent directory
// is created 0o700 and the file 0o600: it holds customers' emails. A file
// that exists but is not a readable database is renamed aside to
// <path>.corrupt-<UTC timestamp> and a fresh one is created; a file locked
// by another process is an error after OpenTimeout.
func OpenOutbox(path string, opts OutboxOptions) (*Outbox, error) {
	opts = opts.withDefaults()
	if path == "" {
		return nil, errors.New("outbox: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("outbox %s: creating its directory: %w", path, err)
	}
	o := &Outbox{path: path, opts: opts, log: opts.Logger}
	o.binding.Store(&opts.Binding)
	db, err := o.openChecked()
	if err != nil && isCorrupt(err) {
		db, err = o.replaceFile(err)
	}
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("outbox %s: still locked by another process after %s: %w", path, opts.OpenTimeout, err)
		}
		return nil, fmt.Errorf("outbox %s: %w", path, err)
	}
	// The key is read under the outbox's file lock, so two processes
	// sharing a storage_dir never make two keys.
	key, created, err := loadBindingKey(filepath.Dir(path))
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("outbox %s: %w", path, err)
	}
	o.key, o.db, o.commits = key, db, newGroupCommitter(db)
	if created {
		o.warnIfKeyWasLost() // a whole outbox: its read may find damage and replace the file
	}
	return o, nil
}

// Close closes the file after in-progress operations finish. Later calls
// return ErrClosed; closing twice is not an error.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	o.commits.stop()
	if err := o.db.Close(); err != nil {
		return fmt.Errorf("outbox %s: close: %w", o.path, err)
	}
	return nil
}

// Enqueue commits ev to the outbox and returns once the commit is on disk
// (fsync'd). The event record and its invoice dedup key are written in one
// transaction; concurrent calls share commits. An empty ev.ID is set first:
// derived from the invoice id when there is one (so a sale captured twice
// carries the same Idempotency-Key), random otherwise.
//
// The outbox keeps ev itself for the event's first delivery attempt, so
// the caller must not change ev once Enqueue is called: a change would
// make the first attempt send other bytes than a resend from the file.
//
// The binding learns from the event in the same transaction
// (binding.go), a duplicate included, since a repeat still shows its
// customer's click. Past nine tenths of MaxSize, or when the file is too
// full for both, the event is committed without: the binding never costs
// a sale.
//
// Emitter.Enqueue also wakes the delivery worker; this one only commits.
func (o *Outbox) Enqueue(ev *sale.Event) (EnqueueResult, error) {
	res, err := o.enqueue(ev, true)
	if errors.Is(err, ErrStorageFull) {
		res, err = o.enqueue(ev, false)
	}
	switch {
	case err != nil:
		o.storageFailures.Add(1)
	case res == Duplicate:
		o.duplicates.Add(1)
	default:
		o.enqueued.Add(1)
		o.queued.Add(1)
	}
	return res, err
}

func (o *Outbox) enqueue(ev *sale.Event, learning bool) (EnqueueResult, error) {
	if ev == nil {
		return Queued, errors.New("outbox: nil event")
	}
	now := o.opts.Now()
	if ev.ID == "" {
		ev.ID = sale.EventID(ev.DedupKey())
	}
	since := ev.CapturedAt
	if since.IsZero() {
		since = now
	}
	value, err := appendNewRecord(make([]byte, 0, 640), ev, now, since)
	if err != nil {
		return Queued, fmt.Errorf("outbox %s: encoding record %s: %w", o.path, ev.ID, err)
	}
	invoice := []byte(ev.DedupKey())
	expiry := timeKey(now.Add(o.opts.DedupWindow))
	binding, lessons := o.bindingOptions(), o.lessonsOf(ev)

	var result EnqueueResult
	learned := 0
	err = o.batch("enqueue "+ev.ID, func(tx *bolt.Tx) error {
		// The group committer may run this more than once (a group that fails is retried
		// call by call), so it derives everything from the transaction.
		result, learned = Queued, 0
		if len(invoice) > 0 {
			dedup := tx.Bucket(bucketDedup)
			if v := dedup.Get(invoice); len(v) == 8 && keyTime(v).After(now) {
				result = Duplicate
			} else if err := dedup.Put(invoice, expiry); err != nil {
				return err
			}
		}
		if result == Queued {
			if err := o.putEvent(tx, ev, value, now, since); err != nil {
				return err
			}
		}
		if learning && o.roomForBindings(tx) {
			var err error
			if learned, err = putBindings(tx, lessons.changes(tx, now, binding)); err != nil {
				return err
			}
		}
		if result == Duplicate && learned == 0 {
			// A repeat (a reloaded thank-you page) that teaches the
			// binding nothing writes nothing, and a group of nothing but
			// such repeats is rolled back, not committed: no fsync for it.
			return errNothingToWrite
		}
		return nil
	})
	if err != nil {
		return Queued, err
	}
	o.bindingsLearned.Add(uint64(learned))
	return result, nil
}

// putEvent writes a new event's record and its place in the due index.
func (o *Outbox) putEvent(tx *bolt.Tx, ev *sale.Event, value []byte, now, since time.Time) error {
	events, due := tx.Bucket(bucketEvents), tx.Bucket(bucketDue)
	events.FillPercent, due.FillPercent = appendFill, appendFill
	seq, err := events.NextSequence()
	if err != nil {
		return err
	}
	o.noteSeq(seq)
	if err := events.Put(seqKey(seq), value); err != nil {
		return err
	}
	if err := due.Put(dueKey(now, seq), nil); err != nil {
		return err
	}
	o.fresh.put(seq, ev, since)
	return nil
}

// view, update and batch run fn in a transaction under the closed guard,
// and name the outbox and the operation in errors. batch is update through
// the group committer (outbox_commit.go); its fn must be idempotent.
func (o *Outbox) view(op string, fn func(*bolt.Tx) error) error {
	return o.guarded(op, func() error { return o.db.View(fn) })
}

func (o *Outbox) update(op string, fn func(*bolt.Tx) error) error {
	return o.guarded(op, func() error { return o.db.Update(fn) })
}

func (o *Outbox) batch(op string, fn func(*bolt.Tx) error) error {
	return o.guarded(op, func() error { return o.commits.do(fn) })
}

// guarded runs a transaction unless the outbox is closed; Close waits for
// it to finish. A transaction that finds the file damaged (bbolt panics
// on a bad page) fails alone, and the outbox moves to a fresh file.
func (o *Outbox) guarded(op string, run func() error) error {
	generation, err := o.runGuarded(run)
	if isCorrupt(err) {
		o.replaceDamaged(generation, err)
	}
	return o.wrap(op, err)
}

func (o *Outbox) runGuarded(run func() error) (generation uint64, err error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	generation = o.generation // set before run, which may panic
	if o.closed {
		return generation, ErrClosed
	}
	defer catchPanic(&err)
	return generation, run()
}

func (o *Outbox) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return ErrClosed
	case isStorageFull(err):
		return fmt.Errorf("outbox %s: %s: %w (%w)", o.path, op, ErrStorageFull, err)
	}
	return fmt.Errorf("outbox %s: %s: %w", o.path, op, err)
}

func isStorageFull(err error) bool {
	return errors.Is(err, berrors.ErrMaxSizeReached) || errors.Is(err, syscall.ENOSPC) ||
		// bbolt formats some allocation errors with %s, losing the chain.
		strings.Contains(err.Error(), "no space left on device")
}
