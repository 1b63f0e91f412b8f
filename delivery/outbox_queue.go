package delivery

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/saletrack/caddy-saletrack/sale"
	"github.com/tidwall/gjson"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// record is a queued event and its delivery bookkeeping, as stored in the
// events bucket. The event stays in its MarshalRecord encoding so a record
// written by one version is delivered byte-for-byte by the next.
type record struct {
	Event json.RawMessage `json:"event"`
	// Accepted lists the sinks (by Name) that already took the event; they
	// are skipped on later attempts.
	Accepted    []string  `json:"accepted,omitempty"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	// Since is where the event's age starts: its capture time, or the
	// replay time for a replayed dead letter, so a replay gets a full
	// MaxEventAge again.
	Since      time.Time `json:"since"`
	EnqueuedAt time.Time `json:"enqueued_at"`
	LastError  string    `json:"last_error,omitempty"`
	LastStatus int       `json:"last_status,omitempty"`
	LastBody   string    `json:"last_body,omitempty"`
	LastSink   string    `json:"last_sink,omitempty"`
}

func (r *record) accepted(sink string) bool { return slices.Contains(r.Accepted, sink) }

// leased is a due event handed to the worker. A record that cannot be
// decoded is still handed over (with err set) so it ends up a dead letter
// rather than blocking the queue or vanishing.
type leased struct {
	seq uint64
	due []byte // the index entry it was found under
	rec record
	// ev is the event itself when it came from memory (its first attempt);
	// nil when rec.Event has to be decoded.
	ev  *sale.Event
	err error
}

// event is the leased event: the one in memory for a first attempt, else
// its record decoded.
func (it *leased) event() (*sale.Event, error) {
	if it.ev != nil {
		return it.ev, nil
	}
	return sale.DecodeRecord(it.rec.Event)
}

// lease returns up to limit due events (next attempt <= now) in due order,
// skipping those busy reports as in flight. next is the earliest next
// attempt among the events it did not return (zero if none), for the
// worker's timer. Only a page is read, so memory stays bounded however
// long the queue is.
func (o *Outbox) lease(now time.Time, limit int, busy func(uint64) bool) (items []leased, next time.Time, err error) {
	var stale [][]byte
	err = o.view("lease", func(tx *bolt.Tx) error {
		items, next, stale = nil, time.Time{}, nil
		events := tx.Bucket(bucketEvents)
		c := tx.Bucket(bucketDue).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) != 16 {
				stale = append(stale, bytes.Clone(k))
				continue
			}
			at, seq := keyTime(k[:8]), binary.BigEndian.Uint64(k[8:])
			if busy != nil && busy(seq) {
				continue
			}
			if at.After(now) || len(items) >= limit {
				next = at
				return nil
			}
			if f, ok := o.fresh.take(seq); ok {
				items = append(items, leased{seq: seq, due: bytes.Clone(k), ev: f.ev,
					rec: record{NextAttempt: at, Since: f.since}})
				continue
			}
			v := events.Get(seqKey(seq))
			if v == nil {
				stale = append(stale, bytes.Clone(k))
				continue
			}
			it := leased{seq: seq, due: bytes.Clone(k)}
			if err := json.Unmarshal(v, &it.rec); err != nil {
				it.err = fmt.Errorf("decoding queued record %d: %w", seq, err)
			}
			items = append(items, it)
		}
		return nil
	})
	if err == nil && len(stale) > 0 {
		// An index entry without a record cannot come from this code (both
		// change in one transaction); drop it rather than trip on it forever.
		o.log.Warn("dropping stale outbox index entries", zap.Int("count", len(stale)))
		_ = o.update("drop stale index entries", func(tx *bolt.Tx) error {
			due := tx.Bucket(bucketDue)
			for _, k := range stale {
				if err := due.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return items, next, err
}

// getRecord reads and decodes one queued record; ok is false when it is
// gone (delivered or moved by another path).
func getRecord(tx *bolt.Tx, seq uint64) (rec record, ok bool, err error) {
	v := tx.Bucket(bucketEvents).Get(seqKey(seq))
	if v == nil {
		return rec, false, nil
	}
	if err := json.Unmarshal(v, &rec); err != nil {
		return rec, true, fmt.Errorf("decoding queued record %d: %w", seq, err)
	}
	return rec, true, nil
}

func putRecord(tx *bolt.Tx, seq uint64, rec *record) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketEvents).Put(seqKey(seq), v)
}

// removeRecord deletes a queued record and its due entry. The due key is
// derived from the stored NextAttempt, the only place it is kept.
func removeRecord(tx *bolt.Tx, seq uint64, rec *record) error {
	if err := tx.Bucket(bucketDue).Delete(dueKey(rec.NextAttempt, seq)); err != nil {
		return err
	}
	return tx.Bucket(bucketEvents).Delete(seqKey(seq))
}

// accept records that sink took the event, so it is not sent there again.
func (o *Outbox) accept(seq uint64, sink string) error {
	return o.batch(fmt.Sprintf("record %d accepted by %s", seq, sink), func(tx *bolt.Tx) error {
		rec, ok, err := getRecord(tx, seq)
		if !ok || err != nil || rec.accepted(sink) {
			return err
		}
		rec.Accepted = append(rec.Accepted, sink)
		return putRecord(tx, seq, &rec)
	})
}

// storedNextAttempt reads only next_attempt from a stored record: all that
// deleting a delivered event needs to find its due entry. Decoding the
// whole record there was most of the work of the commit that follows
// every delivery. ok is false when the field cannot be read this way.
func storedNextAttempt(v []byte) (at time.Time, ok bool) {
	r := gjson.GetBytes(v, "next_attempt")
	if r.Type != gjson.String {
		return at, false
	}
	at, err := time.Parse(time.RFC3339Nano, r.Str)
	return at, err == nil
}

// complete deletes a delivered event. It reports whether it was there.
func (o *Outbox) complete(seq uint64) (bool, error) {
	var found bool
	err := o.batch(fmt.Sprintf("delete delivered record %d", seq), func(tx *bolt.Tx) error {
		found = false
		v := tx.Bucket(bucketEvents).Get(seqKey(seq))
		if v == nil {
			return nil
		}
		found = true
		if at, ok := storedNextAttempt(v); ok {
			return removeRecord(tx, seq, &record{NextAttempt: at})
		}
		rec, _, err := getRecord(tx, seq)
		if err != nil {
			// Undecodable: its due key is unknown, so only the record goes;
			// lease drops the orphaned index entry.
			return tx.Bucket(bucketEvents).Delete(seqKey(seq))
		}
		return removeRecord(tx, seq, &rec)
	})
	if found && err == nil {
		o.queued.Add(-1)
	}
	return found, err
}

// failure is what a failed attempt leaves on the record.
type failure struct {
	sink   string
	err    string
	status int
	body   string
	// location is where a refused redirect pointed, redacted.
	location string
}

// reschedule counts a failed attempt and moves the event's due entry to
// next. adjust, if set, may change next inside the transaction: the
// emitter uses it so that a Flush that ran during the send, before or
// after this commit, never leaves the event waiting out its backoff.
func (o *Outbox) reschedule(seq uint64, next time.Time, f failure, adjust func(time.Time) time.Time) error {
	return o.batch(fmt.Sprintf("reschedule record %d", seq), func(tx *bolt.Tx) error {
		rec, ok, err := getRecord(tx, seq)
		if !ok || err != nil {
			return err
		}
		next := next
		if adjust != nil {
			next = adjust(next)
		}
		if err := tx.Bucket(bucketDue).Delete(dueKey(rec.NextAttempt, seq)); err != nil {
			return err
		}
		rec.Attempts++
		rec.NextAttempt = next
		rec.LastSink, rec.LastError, rec.LastStatus, rec.LastBody = f.sink, f.err, f.status, f.body
		if err := putRecord(tx, seq, &rec); err != nil {
			return err
		}
		return tx.Bucket(bucketDue).Put(dueKey(next, seq), nil)
	})
}

// flushPage bounds how many records one Flush transaction rewrites, so a
// flush of a long queue does not hold the write lock for long.
const flushPage = 1000

// makeAllDue moves every queued event's next attempt to now. It returns
// how many it moved.
func (o *Outbox) makeAllDue(now time.Time) (int, error) {
	// Keys after (now, max seq) are the ones waiting; each moved entry is
	// re-inserted before that point, so seeking to it again always finds
	// the next one still waiting.
	from := append(timeKey(now), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	total := 0
	for {
		moved := 0
		err := o.update("flush", func(tx *bolt.Tx) error {
			moved = 0
			due := tx.Bucket(bucketDue)
			c := due.Cursor()
			for k, _ := c.Seek(from); k != nil && moved < flushPage; k, _ = c.Seek(from) {
				k = bytes.Clone(k)
				if err := due.Delete(k); err != nil {
					return err
				}
				moved++
				if len(k) != 16 {
					continue
				}
				seq := binary.BigEndian.Uint64(k[8:])
				rec, ok, err := getRecord(tx, seq)
				if !ok {
					continue // a stale entry: nothing to deliver
				}
				if err == nil {
					rec.NextAttempt = now
					if err := putRecord(tx, seq, &rec); err != nil {
						return err
					}
				}
				// An undecodable record is made due too, so the worker turns
				// it into a dead letter.
				if err := due.Put(dueKey(now, seq), nil); err != nil {
					return err
				}
			}
			return nil
		})
		total += moved
		if err != nil || moved < flushPage {
			return total, err
		}
	}
}

// oldest returns the age base of the oldest queued event (by enqueue
// order), for the OldestAgeSeconds gauge.
func (o *Outbox) oldest() (time.Time, bool, error) {
	var since time.Time
	var found bool
	err := o.view("oldest", func(tx *bolt.Tx) error {
		_, v := tx.Bucket(bucketEvents).Cursor().First()
		if v == nil {
			return nil
		}
		var rec record
		if err := json.Unmarshal(v, &rec); err != nil {
			return nil // an undecodable record is reported by the worker
		}
		since, found = rec.EnqueuedAt, true
		if !rec.Since.IsZero() && rec.Since.Before(since) {
			since = rec.Since
		}
		return nil
	})
	return since, found, err
}
