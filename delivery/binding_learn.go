package delivery

import (
	bolt "go.etcd.io/bbolt"

	"github.com/saletrack/caddy-saletrack/sale"
)

// Learn teaches the binding what ev shows (its customer's click, its
// email's customer) without committing ev: in a fleet, an event the
// stream took never passes through the outbox's Enqueue, which learns in
// its own transaction. Only what is new or changed is written.
func (o *Outbox) Learn(ev *sale.Event) error {
	lessons := o.lessonsOf(ev)
	if lessons.customerKey == nil && lessons.emailKey == nil {
		return nil
	}
	opts, now := o.bindingOptions(), o.opts.Now()
	return o.learnWith(func(tx *bolt.Tx) []bindingPut { return lessons.changes(tx, now, opts) })
}
