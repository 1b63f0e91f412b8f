package delivery

import (
	"bytes"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/sale"
)

// DefaultBindingTTL is how long the binding remembers what it learned: the
// click cookie's lifetime.
const DefaultBindingTTL = 90 * 24 * time.Hour

// The binding's buckets. Every value starts with when it was learned
// (unix nanos, 8 bytes), from which its expiry is reckoned with the TTL in
// force, so a changed binding_ttl applies to what is already stored.
var (
	bucketBindCustomer = []byte("bind_customer") // HMAC(customer id) → learned ‖ click id
	bucketBindEmail    = []byte("bind_email")    // HMAC(email) → learned ‖ customer id
)

// BindingOptions say how the binding learns and forgets.
type BindingOptions struct {
	// TTL is how long an entry is used after it was learned; 0 means 90 days.
	TTL time.Duration
	// KeepFirst keeps a customer's first click (first-click attribution)
	// instead of replacing it with each newer one.
	KeepFirst bool
}

func (b BindingOptions) withDefaults() BindingOptions {
	if b.TTL <= 0 {
		b.TTL = DefaultBindingTTL
	}
	return b
}

// SetBindingOptions applies a reloaded config's binding settings.
func (o *Outbox) SetBindingOptions(b BindingOptions) {
	b = b.withDefaults()
	o.binding.Store(&b)
}

func (o *Outbox) bindingOptions() BindingOptions { return *o.binding.Load() }

// Filled says which fields Fill completed.
type Filled struct {
	// Customer is set when the customer id came from the sale's email.
	Customer bool
	// Click is set when the click id came from the sale's customer.
	Click bool
}

// Fill completes a sale from the binding: a missing customer id from its
// email, then a missing click id from its customer. Each value is one the
// shop itself produced, seen earlier with the same email or customer;
// nothing is generated. Filled fields are marked sale.OriginBinding.
func (o *Outbox) Fill(ev *sale.Event) (Filled, error) {
	var filled Filled
	if ev.ClickID != "" && ev.CustomerExternalID != "" {
		return filled, nil
	}
	opts, now := o.bindingOptions(), o.opts.Now()
	err := o.view("fill from the binding", func(tx *bolt.Tx) error {
		if ev.CustomerExternalID == "" && ev.CustomerEmail != "" {
			if customer, ok := liveEntry(tx.Bucket(bucketBindEmail), o.key.emailKey(ev.CustomerEmail), now, opts.TTL); ok {
				ev.CustomerExternalID = string(customer)
				ev.SetOrigin(sale.FieldCustomerID, sale.OriginBinding)
				filled.Customer = true
			}
		}
		if ev.ClickID == "" && ev.CustomerExternalID != "" {
			if click, ok := liveEntry(tx.Bucket(bucketBindCustomer), o.key.customerKey(ev.CustomerExternalID), now, opts.TTL); ok &&
				sale.ValidClickID(string(click)) {
				ev.ClickID = string(click)
				ev.SetOrigin(sale.FieldClickID, sale.OriginBinding)
				filled.Click = true
			}
		}
		return nil
	})
	return filled, err
}

// learn records what an event shows: its customer's click, and its
// email's customer. It writes only what is new or changed, and checks
// that in a read transaction first, so the common case (a sale whose
// customer's click is already known) costs no commit.
func (o *Outbox) learn(ev *sale.Event) error {
	if ev.CustomerExternalID == "" || (ev.ClickID == "" && ev.CustomerEmail == "") {
		return nil
	}
	opts, now := o.bindingOptions(), o.opts.Now()
	var puts []bindingPut
	err := o.view("read the binding", func(tx *bolt.Tx) error {
		puts = o.bindingChanges(tx, ev, now, opts)
		return nil
	})
	if err != nil || len(puts) == 0 {
		return err
	}
	return o.batch("learn the binding", func(tx *bolt.Tx) error {
		changes := o.bindingChanges(tx, ev, now, opts)
		if len(changes) == 0 {
			return errNothingToWrite
		}
		for _, p := range changes {
			if err := tx.Bucket(p.bucket).Put(p.key, p.value); err != nil {
				return err
			}
		}
		return nil
	})
}

// learnQuietly learns from ev; a failure costs the binding an entry, never
// the sale, so it is logged and forgotten.
func (o *Outbox) learnQuietly(ev *sale.Event) {
	if err := o.learn(ev); err != nil && !errors.Is(err, ErrClosed) {
		o.log.Warn("the binding could not learn from a capture; later webhook sales of this customer may lack its click",
			zap.String("event_id", ev.ID), zap.Error(err))
	}
}

type bindingPut struct {
	bucket, key, value []byte
}

// bindingChanges lists the writes that learning ev needs in tx's view.
func (o *Outbox) bindingChanges(tx *bolt.Tx, ev *sale.Event, now time.Time, opts BindingOptions) []bindingPut {
	var puts []bindingPut
	if ev.ClickID != "" {
		key := o.key.customerKey(ev.CustomerExternalID)
		click, live := liveEntry(tx.Bucket(bucketBindCustomer), key, now, opts.TTL)
		keep := live && (opts.KeepFirst || string(click) == ev.ClickID)
		if !keep {
			puts = append(puts, bindingPut{bucketBindCustomer, key, entry(now, ev.ClickID)})
		}
	}
	if ev.CustomerEmail != "" {
		key := o.key.emailKey(ev.CustomerEmail)
		// The shop's id for an email is the latest one it answered with.
		if customer, live := liveEntry(tx.Bucket(bucketBindEmail), key, now, opts.TTL); !live || string(customer) != ev.CustomerExternalID {
			puts = append(puts, bindingPut{bucketBindEmail, key, entry(now, ev.CustomerExternalID)})
		}
	}
	return puts
}

// entry is a binding value: when it was learned, then what.
func entry(learned time.Time, text string) []byte {
	return append(timeKey(learned), text...)
}

// liveEntry returns the text of the entry at key, if it is there and not
// past ttl. The text is a copy: bbolt's slices end with the transaction.
func liveEntry(b *bolt.Bucket, key []byte, now time.Time, ttl time.Duration) ([]byte, bool) {
	v := b.Get(key)
	if len(v) <= 8 || entryExpired(v, now, ttl) {
		return nil, false
	}
	return bytes.Clone(v[8:]), true
}

// entryExpired says whether a binding value is past ttl at now. A value
// too short to hold its time is damage, and goes too.
func entryExpired(v []byte, now time.Time, ttl time.Duration) bool {
	return len(v) < 8 || !keyTime(v).Add(ttl).After(now)
}

// sweepBindings deletes the binding's expired entries.
func (o *Outbox) sweepBindings(now time.Time) (int, error) {
	ttl := o.bindingOptions().TTL
	total := 0
	for _, name := range bindingBuckets {
		n, err := o.sweepBucket(name, "sweep expired bindings", func(v []byte) bool { return entryExpired(v, now, ttl) })
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// bindingBuckets lists the binding's buckets, for opening and sweeping.
var bindingBuckets = [][]byte{bucketBindCustomer, bucketBindEmail}
