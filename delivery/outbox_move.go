package delivery

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/saletrack/caddy-saletrack/sale"
)

// movePage bounds how many events one step of MoveQueued reads.
const movePage = 500

// MoveQueued hands every queued event, oldest first, to enqueue (another
// outbox's), and deletes each here once enqueue has committed it there. It
// is for an outbox no config uses any more (its storage directory
// changed): nothing may be delivering from it. A crash midway leaves an
// event in both, and the receiving outbox's dedup (and the event's
// unchanged Idempotency-Key) keeps it one sale. It returns how many moved
// and how many records could not be read (those stay).
func (o *Outbox) MoveQueued(enqueue func(*sale.Event) error) (moved, unreadable int, err error) {
	var after []byte
	for {
		type queued struct {
			seq uint64
			rec record
			ev  *sale.Event
		}
		var page []queued
		err := o.view("read queued events to move", func(tx *bolt.Tx) error {
			page = page[:0]
			c := tx.Bucket(bucketEvents).Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(page) < movePage; k, v = c.Next() {
				after = bytes.Clone(k)
				var rec record
				if len(k) != 8 || json.Unmarshal(v, &rec) != nil {
					unreadable++
					continue
				}
				ev, err := sale.DecodeRecord(rec.Event)
				if err != nil {
					unreadable++
					continue
				}
				page = append(page, queued{seq: binary.BigEndian.Uint64(k), rec: rec, ev: ev})
			}
			return nil
		})
		if err != nil || len(page) == 0 {
			return moved, unreadable, err
		}
		for _, q := range page {
			if err := enqueue(q.ev); err != nil {
				return moved, unreadable, fmt.Errorf("moving event %s: %w", q.ev.ID, err)
			}
			err := o.update(fmt.Sprintf("delete moved record %d", q.seq), func(tx *bolt.Tx) error {
				return removeRecord(tx, q.seq, &q.rec)
			})
			if err != nil {
				return moved, unreadable, err
			}
			o.queued.Add(-1)
			o.fresh.drop(q.seq)
			moved++
		}
	}
}
