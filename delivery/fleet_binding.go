package delivery

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/saletrack/caddy-saletrack/sale"
)

// FleetBinding is the binding a fleet shares: a JetStream KV bucket, so a
// webhook landing on any node is filled from what any node learned. Its
// keys are HMACs under one key kept in the bucket itself, the same on
// every node; its values are the binding's own (when learned, then the
// click or customer id), so no email is ever written to NATS by it.
//
// While NATS is unreachable it reads the node's own outbox instead, which
// holds what this node learned from the events it spooled meanwhile (and
// before it joined the fleet). Checkout references recorded meanwhile go
// there too; a spooled event teaches the bucket once it is forwarded.
type FleetBinding struct {
	f     *Fleet
	local *Outbox
	// bucket is the KV bucket and its hashing key, once set up.
	bucket atomic.Pointer[bindingBucket]
}

type bindingBucket struct {
	kv  jetstream.KeyValue
	key bindingKey
}

var _ Binding = (*FleetBinding)(nil)

// errBindingContended: other nodes kept rewriting an entry while this one
// tried to; what it had to add is lost, as a failed write is.
var errBindingContended = errors.New("binding entry rewritten by other nodes at each try")

// ShareBinding makes the fleet's KV bucket the binding of this node, with
// local (the spool's outbox) as its fallback and the source of its
// settings (attribution, TTL), which a reload updates. Call it before
// Start; Start creates or checks the bucket.
func (f *Fleet) ShareBinding(local *Outbox) *FleetBinding {
	b := &FleetBinding{f: f, local: local}
	f.shared = b
	return b
}

// Binding is the binding this node uses: the shared one, if any.
func (f *Fleet) Binding() *FleetBinding { return f.shared }

// use returns the bucket when NATS is usable, nil when it is not.
func (b *FleetBinding) use() *bindingBucket {
	if !b.f.ready.Load() || !b.f.nc.IsConnected() {
		return nil
	}
	return b.bucket.Load()
}

// callTimeout bounds the calls of one Fill, Learn or BindRefs: a webhook
// waits for its fill, so it is short, but never below a second.
func (b *FleetBinding) callTimeout() time.Duration {
	return max(time.Second, b.f.opts.PublishTimeout)
}

// Fill completes a sale from the shared binding, as Outbox.Fill does from
// the node's file.
func (b *FleetBinding) Fill(ev *sale.Event) (Filled, error) {
	bk := b.use()
	if bk == nil {
		return b.local.Fill(ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.callTimeout())
	defer cancel()
	filled, err := fillFrom(ev, kvReader{ctx: ctx, bk: bk, opts: b.local.bindingOptions(), now: b.local.opts.Now()})
	if err != nil {
		return filled, fmt.Errorf("nats kv bucket %s: %w", b.f.opts.BindingBucket, err)
	}
	return filled, nil
}

// Learn teaches the shared binding what ev shows, as an enqueue teaches
// the outbox: the customer's click (kept under first-click attribution,
// replaced under last), and the customer last seen with the email.
func (b *FleetBinding) Learn(ev *sale.Event) error {
	customer, click, email := ev.CustomerExternalID, ev.ClickID, ev.CustomerEmail
	if customer == "" || (click == "" && email == "") {
		return nil
	}
	bk := b.use()
	if bk == nil {
		return ErrFleetDown
	}
	opts, now := b.local.bindingOptions(), b.local.opts.Now()
	ctx, cancel := context.WithTimeout(context.Background(), b.callTimeout())
	defer cancel()
	if click != "" {
		err := b.change(ctx, bk, customerKVKey(bk.key, customer), opts, func(_, old []byte, live bool) ([]byte, bool) {
			return entry(now, click), !keepsClick(old, live, click, opts.KeepFirst)
		})
		if err != nil {
			return err
		}
	}
	if email != "" {
		return b.change(ctx, bk, emailKVKey(bk.key, email), opts, func(raw, old []byte, live bool) ([]byte, bool) {
			return entry(now, customer), !keepsCustomer(raw, customer, now, opts.TTL)
		})
	}
	return nil
}

// BindRefs records a checkout's references in the shared binding, merged
// with what is there as Outbox.BindRefs merges. While NATS is unreachable
// they go to the node's own outbox, where this node's fills find them.
func (b *FleetBinding) BindRefs(refs []string, click, customer string) error {
	if len(refs) == 0 || (click == "" && customer == "") {
		return nil
	}
	bk := b.use()
	if bk == nil {
		return b.local.BindRefs(refs, click, customer)
	}
	opts, now := b.local.bindingOptions(), b.local.opts.Now()
	ctx, cancel := context.WithTimeout(context.Background(), b.callTimeout())
	defer cancel()
	for _, ref := range refs {
		err := b.change(ctx, bk, refKVKey(bk.key, ref), opts, func(_, old []byte, live bool) ([]byte, bool) {
			return mergeRef(old, live, click, customer, opts.KeepFirst, now)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// change rewrites the entry at key with what next makes of its live text
// (nil, false when there is none or it is past the TTL), if next says to
// write. The write is revision-checked (Create for a key not there), so
// of two nodes learning at once neither overwrites what the other just
// wrote unseen: the loser reads again and decides again. That is what
// keeps the first click first across the fleet.
func (b *FleetBinding) change(ctx context.Context, bk *bindingBucket, key string, opts BindingOptions,
	next func(raw, old []byte, live bool) ([]byte, bool)) error {
	now := b.local.opts.Now()
	for range 5 {
		var rev uint64
		var raw, old []byte
		var live bool
		e, err := bk.kv.Get(ctx, key)
		switch {
		case err == nil:
			rev, raw = e.Revision(), e.Value()
			old, live = liveText(raw, now, opts.TTL)
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return err
		}
		value, write := next(raw, old, live)
		if !write {
			return nil
		}
		if rev == 0 {
			_, err = bk.kv.Create(ctx, key, value)
		} else {
			_, err = bk.kv.Update(ctx, key, value, rev)
		}
		if err == nil {
			b.local.bindingsLearned.Add(1)
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return err
		}
	}
	return errBindingContended
}

// kvReader reads the bucket for fillFrom.
type kvReader struct {
	ctx  context.Context
	bk   *bindingBucket
	opts BindingOptions
	now  time.Time
}

// live is the text of the entry at key if it is there and not past the TTL.
func (r kvReader) live(key string) ([]byte, bool, error) {
	e, err := r.bk.kv.Get(r.ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	text, live := liveText(e.Value(), r.now, r.opts.TTL)
	return text, live, nil
}

func (r kvReader) refEntry(ref string) (string, string, bool, error) {
	v, ok, err := r.live(refKVKey(r.bk.key, ref))
	if !ok || err != nil {
		return "", "", false, err
	}
	click, customer, ok := splitRefEntry(v)
	return click, customer, ok, nil
}

func (r kvReader) customerOfEmail(email string) (string, bool, error) {
	v, ok, err := r.live(emailKVKey(r.bk.key, email))
	return string(v), ok, err
}

func (r kvReader) clickOfCustomer(customer string) (string, bool, error) {
	v, ok, err := r.live(customerKVKey(r.bk.key, customer))
	return string(v), ok, err
}

// The bucket's keys: a table's prefix, then the hex of the entry's HMAC,
// as the outbox's buckets key them (KV keys take few characters).
func customerKVKey(k bindingKey, customer string) string {
	return "customer." + hex.EncodeToString(k.customerKey(customer))
}

func emailKVKey(k bindingKey, email string) string {
	return "email." + hex.EncodeToString(k.emailKey(email))
}

func refKVKey(k bindingKey, ref string) string {
	return "ref." + hex.EncodeToString(k.refKey(ref))
}
