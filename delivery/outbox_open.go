package delivery

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"
)

// corruptError marks a failure that means the file's content is not a
// usable database, as opposed to a lock, permission or I/O problem that a
// fresh file would not fix (and that renaming aside would only hide).
type corruptError struct{ cause error }

// Error says the content is unreadable, and why.
func (e *corruptError) Error() string { return "unreadable database: " + e.cause.Error() }

// Unwrap returns bbolt's error.
func (e *corruptError) Unwrap() error { return e.cause }

func isCorrupt(err error) bool {
	var ce *corruptError
	return errors.As(err, &ce)
}

// catchPanic turns a panic inside bbolt into a corruptError in *err. bbolt
// asserts its invariants with panics, and a damaged page breaks them; no
// such panic may end the process. Deferred around each transaction.
func catchPanic(err *error) {
	if p := recover(); p != nil {
		*err = &corruptError{cause: fmt.Errorf("bbolt panicked: %v", p)}
	}
}

// openChecked opens the bbolt file, creates the buckets and counts what is
// in each. Counting reads every leaf page of every bucket, which doubles as
// a check: bbolt panics on many kinds of damaged pages, and a panic here is
// a corruptError at open rather than a crash later in a goroutine. (bbolt's
// own Tx.Check also walks the freelist; it finds nothing that would stop
// the outbox from working and takes longer.)
func (o *Outbox) openChecked() (db *bolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &corruptError{cause: fmt.Errorf("bbolt panicked: %v", p)}
			if db != nil {
				closeQuietly(db)
				db = nil
			}
		}
	}()
	maxSize := o.opts.MaxSize
	if maxSize > math.MaxInt {
		maxSize = math.MaxInt
	}
	db, err = bolt.Open(o.path, 0o600, &bolt.Options{
		Timeout: o.opts.OpenTimeout,
		MaxSize: int(maxSize),
	})
	if err != nil {
		if isCorruptOpenError(err) {
			return nil, &corruptError{cause: err}
		}
		return nil, err
	}
	var queued, dead int64
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range append([][]byte{bucketEvents, bucketDue, bucketDedup, bucketDead}, bindingBuckets...) {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("creating bucket %s: %w", name, err)
			}
		}
		queued = countKeys(tx.Bucket(bucketEvents))
		dead = countKeys(tx.Bucket(bucketDead))
		countKeys(tx.Bucket(bucketDue))
		countKeys(tx.Bucket(bucketDedup))
		events := tx.Bucket(bucketEvents)
		if last := o.lastSeq.Load(); events.Sequence() < last {
			if err := events.SetSequence(last); err != nil {
				return err
			}
		}
		o.noteSeq(events.Sequence())
		return nil
	})
	if err != nil {
		closeQuietly(db)
		if errors.Is(err, berrors.ErrIncompatibleValue) || isCorruptOpenError(err) {
			return nil, &corruptError{cause: err}
		}
		return nil, err
	}
	o.queued.Store(queued)
	o.dead.Store(dead)
	return db, nil
}

// isCorruptOpenError lists what bbolt returns for content it cannot read.
// "file size too small" is an unwrapped string in bbolt.
func isCorruptOpenError(err error) bool {
	return errors.Is(err, berrors.ErrInvalid) ||
		errors.Is(err, berrors.ErrVersionMismatch) ||
		errors.Is(err, berrors.ErrChecksum) ||
		strings.Contains(err.Error(), "file size too small")
}

func countKeys(b *bolt.Bucket) int64 {
	var n int64
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

// closeQuietly closes a database that failed its checks. A damaged file
// can make even Close panic; the caller already has a better error.
func closeQuietly(db *bolt.DB) {
	defer func() { _ = recover() }()
	_ = db.Close()
}

// replaceFile moves the damaged file aside and opens a fresh one in its
// place, logging where the old one went: it may hold undelivered sales.
func (o *Outbox) replaceFile(cause error) (*bolt.DB, error) {
	queued := o.queued.Load()
	aside, err := o.moveAside()
	if err != nil {
		return nil, fmt.Errorf("outbox %s is unreadable (%v) and could not be moved aside: %w", o.path, cause, err)
	}
	o.log.Error("outbox file is damaged; moved it aside and started a fresh one. Sales still queued in it were not delivered",
		zap.String("path", o.path), zap.String("moved_to", aside), zap.Int64("queued_in_it", queued), zap.Error(cause))
	return o.openChecked()
}

// replaceDamaged moves the outbox to a fresh file when an operation found
// the one of that generation damaged. Writes that were in flight failed
// with the damage, so their callers log each sale in full.
func (o *Outbox) replaceDamaged(generation uint64, cause error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || o.generation != generation {
		return // closed, or another operation already replaced it
	}
	o.commits.stop()
	closeQuietly(o.db)
	o.fresh.clear()
	db, err := o.replaceFile(cause)
	if err != nil {
		o.closed = true
		o.log.Error("outbox could not start a fresh file; sales are logged in full until the next start", zap.Error(err))
		return
	}
	o.db, o.commits = db, newGroupCommitter(db)
	o.generation++
}

// noteSeq records that seq was handed out.
func (o *Outbox) noteSeq(seq uint64) {
	for {
		last := o.lastSeq.Load()
		if seq <= last || o.lastSeq.CompareAndSwap(last, seq) {
			return
		}
	}
}

// moveAside renames the unreadable file to <path>.corrupt-<UTC timestamp>,
// adding a counter rather than ever replacing an earlier one: the file may
// hold undelivered sales that someone will want to recover.
func (o *Outbox) moveAside() (string, error) {
	base := o.path + ".corrupt-" + o.opts.Now().UTC().Format("20060102T150405Z")
	for i := 0; i < 1000; i++ {
		target := base
		if i > 0 {
			target = fmt.Sprintf("%s-%d", base, i)
		}
		if _, err := os.Lstat(target); err == nil {
			continue
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		if err := os.Rename(o.path, target); err != nil {
			return "", err
		}
		return target, nil
	}
	return "", fmt.Errorf("too many files named %s-*", base)
}
