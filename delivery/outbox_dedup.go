package delivery

import (
	"bytes"
	"time"

	bolt "go.etcd.io/bbolt"
)

// sweepPage bounds one sweep transaction.
const sweepPage = 5000

// sweepDedup deletes dedup keys whose window ended.
func (o *Outbox) sweepDedup(now time.Time) (int, error) {
	return o.sweepBucket(bucketDedup, "sweep dedup keys", func(v []byte) bool {
		return len(v) != 8 || !keyTime(v).After(now)
	})
}

// sweepBucket deletes the entries of a bucket whose value expired says
// are over. Keys are not sorted by expiry, so it reads them all; it
// collects in read transactions and deletes in small write ones, so
// capture never waits long behind it.
func (o *Outbox) sweepBucket(name []byte, op string, expired func(v []byte) bool) (int, error) {
	removed := 0
	var after []byte
	for {
		var found [][]byte
		var last []byte
		err := o.view(op, func(tx *bolt.Tx) error {
			found, last = nil, nil
			c := tx.Bucket(name).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for n := 0; k != nil && n < sweepPage; k, v = c.Next() {
				n++
				last = bytes.Clone(k)
				if expired(v) {
					found = append(found, bytes.Clone(k))
				}
			}
			return nil
		})
		if err != nil {
			return removed, err
		}
		if len(found) > 0 {
			err = o.update(op, func(tx *bolt.Tx) error {
				b := tx.Bucket(name)
				for _, k := range found {
					// Re-check: a write may have renewed the entry since.
					if v := b.Get(k); v != nil && expired(v) {
						if err := b.Delete(k); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				return removed, err
			}
			removed += len(found)
		}
		if last == nil {
			return removed, nil
		}
		after = last
	}
}
