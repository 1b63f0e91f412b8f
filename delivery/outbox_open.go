package delivery

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
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

// openChecked opens the bbolt file, creates the buckets and counts what is
// queued. Counting reads every leaf page of the queue and the dead
// letters, which doubles as a sanity check: bbolt panics on many kinds of
// damaged pages, and a panic here is turned into a corruptError instead of
// taking the whole server down.
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
		for _, name := range [][]byte{bucketEvents, bucketDue, bucketDedup, bucketDead} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("creating bucket %s: %w", name, err)
			}
		}
		queued = countKeys(tx.Bucket(bucketEvents))
		dead = countKeys(tx.Bucket(bucketDead))
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
