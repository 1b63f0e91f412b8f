package delivery

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/saletrack/caddy-saletrack/sale"
	"github.com/tidwall/gjson"
	bolt "go.etcd.io/bbolt"
)

// DeadLetter is an event the emitter stopped trying to deliver, kept with
// the reason so it can be inspected and replayed: nothing leaves the outbox
// without a trace.
type DeadLetter struct {
	// Seq identifies the dead letter within the outbox.
	Seq uint64 `json:"seq"`
	// Event is the sale; nil only when the stored record could not be
	// decoded.
	Event *sale.Event `json:"event,omitempty"`
	// Raw holds an undecodable record's bytes (as JSON, or as a JSON
	// string when they are not JSON), so even garbage leaves a trace.
	Raw json.RawMessage `json:"raw,omitempty"`
	// Reason is why it died: "permanent: 422", "expired after 168h0m0s".
	Reason string `json:"reason"`
	// Sink is the sink that failed last.
	Sink string `json:"sink,omitempty"`
	// Status is the last HTTP status, 0 if there was none.
	Status int `json:"status,omitempty"`
	// Body is the first 512 bytes of the last response body.
	Body string `json:"body,omitempty"`
	// Error is the last error message.
	Error string `json:"error,omitempty"`
	// Attempts is how many failed attempts it went through.
	Attempts int `json:"attempts"`
	// Accepted lists the sinks that did take the event; a replay skips them.
	Accepted []string `json:"accepted,omitempty"`
	// At is when it became a dead letter.
	At time.Time `json:"at"`
}

// deadRecord is a DeadLetter as stored: the event kept in its record
// encoding, like a queued one.
type deadRecord struct {
	Event    json.RawMessage `json:"event,omitempty"`
	Raw      []byte          `json:"raw,omitempty"`
	Reason   string          `json:"reason"`
	Sink     string          `json:"sink,omitempty"`
	Status   int             `json:"status,omitempty"`
	Body     string          `json:"body,omitempty"`
	Error    string          `json:"error,omitempty"`
	Attempts int             `json:"attempts"`
	Accepted []string        `json:"accepted,omitempty"`
	At       time.Time       `json:"at"`
}

// bury moves a queued event to the dead letters in one transaction.
// f describes the last failure; attempts counts it. due is the index entry
// the event was leased under: for an undecodable record it is the only way
// to find that entry.
func (o *Outbox) bury(seq uint64, due []byte, reason string, f failure, at time.Time) error {
	var found bool
	err := o.batch(fmt.Sprintf("dead-letter record %d", seq), func(tx *bolt.Tx) error {
		found = false
		events := tx.Bucket(bucketEvents)
		v := events.Get(seqKey(seq))
		if v == nil {
			return nil
		}
		found = true
		dr := deadRecord{Reason: reason, Sink: f.sink, Status: f.status, Body: f.body, Error: f.err, At: at}
		var rec record
		if err := json.Unmarshal(v, &rec); err != nil {
			dr.Raw = bytes.Clone(v)
			if err := events.Delete(seqKey(seq)); err != nil {
				return err
			}
			if due != nil {
				if err := tx.Bucket(bucketDue).Delete(due); err != nil {
					return err
				}
			}
		} else {
			dr.Event, dr.Accepted, dr.Attempts = rec.Event, rec.Accepted, rec.Attempts+1
			if err := removeRecord(tx, seq, &rec); err != nil {
				return err
			}
		}
		value, err := json.Marshal(&dr)
		if err != nil {
			return err
		}
		dead := tx.Bucket(bucketDead)
		id, err := dead.NextSequence()
		if err != nil {
			return err
		}
		return dead.Put(seqKey(id), value)
	})
	if found && err == nil {
		// dead last: whoever sees the dead letter counted (a test, the
		// status page) sees the other counts already moved.
		o.deadLettered.Add(1)
		o.queued.Add(-1)
		o.dead.Add(1)
	}
	return err
}

// Dead-letter page sizes.
const (
	defaultDeadPage = 100
	maxDeadPage     = 1000
)

// deadLetters returns one page of dead letters, oldest first, and how many
// there are in all. limit <= 0 means 100; it is capped at 1000. The read
// stops at the page's end: its cost grows with offset+limit, not with
// how many dead letters there are, and only the page is decoded.
func (o *Outbox) deadLetters(offset, limit int) ([]DeadLetter, int, error) {
	if offset < 0 {
		offset = 0
	}
	if limit <= 0 {
		limit = defaultDeadPage
	}
	limit = min(limit, maxDeadPage)
	letters := []DeadLetter{}
	err := o.view("list dead letters", func(tx *bolt.Tx) error {
		letters = letters[:0]
		c := tx.Bucket(bucketDead).Cursor()
		k, v := c.First()
		for i := 0; k != nil && i < offset; i++ {
			k, v = c.Next()
		}
		for ; k != nil && len(letters) < limit; k, v = c.Next() {
			letters = append(letters, decodeDead(k, v))
		}
		return nil
	})
	return letters, int(o.dead.Load()), err
}

func decodeDead(k, v []byte) DeadLetter {
	var seq uint64
	if len(k) == 8 {
		seq = binary.BigEndian.Uint64(k)
	}
	var dr deadRecord
	if err := json.Unmarshal(v, &dr); err != nil {
		return DeadLetter{Seq: seq, Raw: rawJSON(v), Reason: "undecodable dead letter", Error: err.Error()}
	}
	dl := DeadLetter{Seq: seq, Reason: dr.Reason, Sink: dr.Sink, Status: dr.Status, Body: dr.Body,
		Error: dr.Error, Attempts: dr.Attempts, Accepted: dr.Accepted, At: dr.At}
	if dr.Raw != nil {
		dl.Raw = rawJSON(dr.Raw)
	} else if ev, err := sale.DecodeRecord(dr.Event); err == nil {
		dl.Event = ev
	} else {
		dl.Raw = rawJSON(dr.Event)
	}
	return dl
}

// rawJSON keeps bytes as JSON when they are JSON, and as a JSON string
// otherwise, so a dead letter always marshals.
func rawJSON(b []byte) json.RawMessage {
	if json.Valid(b) {
		return bytes.Clone(b)
	}
	s, _ := json.Marshal(string(b))
	return s
}

// replayPage bounds one replay transaction.
const replayPage = 1000

// replay moves dead letters back into the queue, due now, with fresh
// attempts and a fresh age, keeping the event (and so its ID) and the
// sinks that already accepted it. invoiceID "" replays all of them; a dead
// letter whose record could not be decoded cannot be delivered and stays.
func (o *Outbox) replay(invoiceID string, now time.Time) (int, error) {
	total := 0
	var after []byte
	for {
		moved, scanned := 0, 0
		var last []byte
		err := o.update("replay dead letters", func(tx *bolt.Tx) error {
			moved, scanned, last = 0, 0, nil
			dead := tx.Bucket(bucketDead)
			var picked [][]byte
			var recs []deadRecord
			c := dead.Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(picked) < replayPage; k, v = c.Next() {
				scanned++
				last = bytes.Clone(k)
				dr, ok := replayable(v, invoiceID)
				if !ok {
					continue
				}
				picked = append(picked, bytes.Clone(k))
				recs = append(recs, dr)
			}
			events, due := tx.Bucket(bucketEvents), tx.Bucket(bucketDue)
			for i, k := range picked {
				rec := record{Event: recs[i].Event, Accepted: recs[i].Accepted,
					NextAttempt: now, Since: now, EnqueuedAt: now}
				seq, err := events.NextSequence()
				if err != nil {
					return err
				}
				o.noteSeq(seq)
				o.fresh.drop(seq)
				if err := putRecord(tx, seq, &rec); err != nil {
					return err
				}
				if err := due.Put(dueKey(now, seq), nil); err != nil {
					return err
				}
				if err := dead.Delete(k); err != nil {
					return err
				}
				moved++
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += moved
		o.queued.Add(int64(moved))
		o.dead.Add(-int64(moved))
		if scanned == 0 || last == nil {
			return total, nil
		}
		after = last
	}
}

// replayable decodes a stored dead letter and says whether a replay picks
// it: it holds an event (an undecodable one cannot be delivered, and
// stays) of invoiceID, or of any invoice when invoiceID is "".
func replayable(data []byte, invoiceID string) (deadRecord, bool) {
	var dr deadRecord
	if json.Unmarshal(data, &dr) != nil || dr.Event == nil {
		return dr, false
	}
	return dr, invoiceID == "" || gjson.GetBytes(dr.Event, "invoiceId").String() == invoiceID
}
