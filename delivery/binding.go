package delivery

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

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
	bucketBindRef      = []byte("bind_ref")      // HMAC(reference) → learned ‖ uvarint len(click) ‖ click id ‖ customer id
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

// What a field was filled in by, as Filled reports it.
const (
	ByReference = "reference" // the checkout reference the sale carries
	ByEmail     = "email"     // the sale's email
	ByCustomer  = "customer"  // the sale's customer id
)

// Filled says which fields Fill completed, and by what; "" for a field
// it did not fill.
type Filled struct {
	Customer string
	Click    string
}

// Any reports whether Fill completed anything.
func (f Filled) Any() bool { return f.Customer != "" || f.Click != "" }

// Fill completes a sale from the binding: first from the checkout
// reference it carries (the click and customer checkout_ref saw), then a
// missing customer id from its email, then a missing click id from its
// customer. Each value is one the shop itself produced, seen earlier with
// the same reference, email or customer; nothing is generated. What the
// sale carries itself is never replaced. Filled fields are marked
// sale.OriginBinding.
func (o *Outbox) Fill(ev *sale.Event) (Filled, error) {
	if ev.ClickID != "" && ev.CustomerExternalID != "" {
		return Filled{}, nil
	}
	opts, now := o.bindingOptions(), o.opts.Now()
	var filled Filled
	err := o.view("fill from the binding", func(tx *bolt.Tx) error {
		var err error
		filled, err = fillFrom(ev, boltReader{tx: tx, key: o.key, now: now, ttl: opts.TTL})
		return err
	})
	return filled, err
}

// BindRefs records that the checkout behind each of refs (a provider's
// Checkout Session or transaction, a shop's cart) was opened by a browser
// with click and, when known, by customer, for the sale that carries one
// of them. What one call does not know (a storefront's server asking for
// the cart has no click; the browser's request has no customer) leaves
// what an earlier one recorded. A reference seen again keeps its first
// click under first-click attribution. It returns once the entries are on
// disk.
func (o *Outbox) BindRefs(refs []string, click, customer string) error {
	if len(refs) == 0 || (click == "" && customer == "") {
		return nil
	}
	opts, now := o.bindingOptions(), o.opts.Now()
	return o.learnWith(func(tx *bolt.Tx) []bindingPut {
		var puts []bindingPut
		for _, ref := range refs {
			key := o.key.refKey(ref)
			old, live := liveEntry(tx.Bucket(bucketBindRef), key, now, opts.TTL)
			if value, write := mergeRef(old, live, click, customer, opts.KeepFirst, now); write {
				puts = append(puts, bindingPut{bucketBindRef, key, value})
			}
		}
		return puts
	})
}

// refEntry is a reference's binding value: when, the click, the customer.
func refEntry(learned time.Time, click, customer string) []byte {
	v := binary.AppendUvarint(timeKey(learned), uint64(len(click)))
	return append(append(v, click...), customer...)
}

// splitRefEntry reads what refEntry wrote, less its time.
func splitRefEntry(v []byte) (click, customer string, ok bool) {
	n, size := binary.Uvarint(v)
	if size <= 0 || n > uint64(len(v)-size) {
		return "", "", false
	}
	rest := v[size:]
	return string(rest[:n]), string(rest[n:]), true
}

// learnWith writes the binding entries changes lists. It asks in a read
// transaction first, and commits only when there is something to write,
// asking again inside the write: another capture may have written since.
func (o *Outbox) learnWith(changes func(*bolt.Tx) []bindingPut) error {
	var puts []bindingPut
	err := o.view("read the binding", func(tx *bolt.Tx) error {
		if puts = changes(tx); len(puts) > 0 && !o.roomForBindings(tx) {
			return errNoRoomForBindings
		}
		return nil
	})
	if err != nil || len(puts) == 0 {
		return err
	}
	wrote := 0
	err = o.batch("learn the binding", func(tx *bolt.Tx) error {
		var err error
		if wrote, err = putBindings(tx, changes(tx)); err != nil {
			return err
		}
		if wrote == 0 {
			return errNothingToWrite
		}
		return nil
	})
	if err == nil {
		o.bindingsLearned.Add(uint64(wrote))
	}
	return err
}

// bindingShareOfMax is the part of max_storage, in tenths, past which the
// binding learns nothing more. A browser can make up references by the
// thousand (any cart cookie, on every request); what they fill must never
// be the room a sale needs.
const bindingShareOfMax = 9

var errNoRoomForBindings = fmt.Errorf("%w: the binding stops at %d0%% of max_storage, keeping the rest for sales",
	ErrStorageFull, bindingShareOfMax)

// roomForBindings says whether the pages in use, free pages aside, are
// below the binding's share of MaxSize.
func (o *Outbox) roomForBindings(tx *bolt.Tx) bool {
	db := tx.DB()
	st := db.Stats()
	inUse := tx.Size() - int64(st.FreePageN+st.PendingPageN)*int64(db.Info().PageSize)
	return inUse < o.opts.MaxSize/10*bindingShareOfMax
}

// putBindings writes the entries and says how many.
func putBindings(tx *bolt.Tx, puts []bindingPut) (int, error) {
	for _, p := range puts {
		if err := tx.Bucket(p.bucket).Put(p.key, p.value); err != nil {
			return 0, err
		}
	}
	return len(puts), nil
}

type bindingPut struct {
	bucket, key, value []byte
}

// eventLessons is what an event can teach the binding, its keys hashed
// before the write transaction, which one goroutine runs for every
// concurrent capture.
type eventLessons struct {
	customer, click string
	customerKey     []byte // nil when the event has no click to bind
	emailKey        []byte // nil when it has no email
}

// lessonsOf reads what ev can teach: its customer's click, and its
// email's customer.
func (o *Outbox) lessonsOf(ev *sale.Event) eventLessons {
	l := eventLessons{customer: ev.CustomerExternalID, click: ev.ClickID}
	if l.customer == "" {
		return l
	}
	if l.click != "" {
		l.customerKey = o.key.customerKey(l.customer)
	}
	if ev.CustomerEmail != "" {
		l.emailKey = o.key.emailKey(ev.CustomerEmail)
	}
	return l
}

// changes lists the writes the lessons need in tx's view. Only what is
// new or changed is written, so the common case (a sale whose customer's
// click is already known) adds nothing to its commit.
func (l eventLessons) changes(tx *bolt.Tx, now time.Time, opts BindingOptions) []bindingPut {
	var puts []bindingPut
	if l.customerKey != nil {
		click, live := liveEntry(tx.Bucket(bucketBindCustomer), l.customerKey, now, opts.TTL)
		if !keepsClick(click, live, l.click, opts.KeepFirst) {
			puts = append(puts, bindingPut{bucketBindCustomer, l.customerKey, entry(now, l.click)})
		}
	}
	if l.emailKey != nil {
		if !keepsCustomer(tx.Bucket(bucketBindEmail).Get(l.emailKey), l.customer, now, opts.TTL) {
			puts = append(puts, bindingPut{bucketBindEmail, l.emailKey, entry(now, l.customer)})
		}
	}
	return puts
}

// maxRenewAge is how old an email's entry may grow while its customer is
// seen again before it is written anew: at most one write a day for a
// customer seen every day.
const maxRenewAge = 24 * time.Hour

// dueForRenewal says whether a live entry seen again is old enough to be
// written anew, restarting its TTL: past a day, or past half the TTL when
// that is shorter.
func dueForRenewal(v []byte, now time.Time, ttl time.Duration) bool {
	return len(v) >= 8 && !keyTime(v).Add(min(ttl/2, maxRenewAge)).After(now)
}

// entry is a binding value: when it was learned, then what.
func entry(learned time.Time, text string) []byte {
	return append(timeKey(learned), text...)
}

// liveEntry returns the text of the entry at key, if it is there and not
// past ttl. The text is a copy: bbolt's slices end with the transaction.
func liveEntry(b *bolt.Bucket, key []byte, now time.Time, ttl time.Duration) ([]byte, bool) {
	text, live := liveText(b.Get(key), now, ttl)
	return bytes.Clone(text), live
}

// liveText is a binding value's text, less its time, unless it is past
// ttl (or too short to hold its time: damage), whichever store holds it.
func liveText(v []byte, now time.Time, ttl time.Duration) ([]byte, bool) {
	if len(v) <= 8 || entryExpired(v, now, ttl) {
		return nil, false
	}
	return v[8:], true
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
var bindingBuckets = [][]byte{bucketBindCustomer, bucketBindEmail, bucketBindRef}
