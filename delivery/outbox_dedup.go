package delivery

import (
	"bytes"
	"time"

	bolt "go.etcd.io/bbolt"
)

// sweepPage bounds one sweep transaction.
const sweepPage = 5000

// sweepDedup deletes dedup keys whose window ended. Keys are sorted by
// invoice id, not expiry, so it reads them all; it collects in read
// transactions and deletes in small write ones, so capture never waits
// long behind it.
func (o *Outbox) sweepDedup(now time.Time) (int, error) {
	removed := 0
	var after []byte
	for {
		var expired [][]byte
		var last []byte
		err := o.view("sweep dedup keys", func(tx *bolt.Tx) error {
			expired, last = nil, nil
			c := tx.Bucket(bucketDedup).Cursor()
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
				if len(v) != 8 || !keyTime(v).After(now) {
					expired = append(expired, bytes.Clone(k))
				}
			}
			return nil
		})
		if err != nil {
			return removed, err
		}
		if len(expired) > 0 {
			err = o.update("sweep dedup keys", func(tx *bolt.Tx) error {
				dedup := tx.Bucket(bucketDedup)
				for _, k := range expired {
					// Re-check: an Enqueue may have renewed the key since.
					if v := dedup.Get(k); v != nil && (len(v) != 8 || !keyTime(v).After(now)) {
						if err := dedup.Delete(k); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				return removed, err
			}
			removed += len(expired)
		}
		if last == nil {
			return removed, nil
		}
		after = last
	}
}
