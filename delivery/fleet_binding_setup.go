package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultFleetBindingBucket is the shared binding's KV bucket.
const DefaultFleetBindingBucket = "SALETRACK_BINDING"

// bindingKeyEntry is the bucket's entry holding the hashing key. It is
// written once, with Create semantics, by whichever node is first; every
// node reads it. It never expires: a new key would orphan every entry.
const bindingKeyEntry = "hmac-key"

// bindingMarkerTTL is how long the bucket keeps the marker of an expired
// entry. Nothing watches the bucket, so the least the server takes.
const bindingMarkerTTL = time.Second

// bindingConfig is the shared binding's bucket as the module creates it.
// Its TTL (the stream's max age) is binding_ttl: every entry lives that
// long from its last write, as in the outbox, and the server expires them
// with no sweeper. Per-message TTLs are allowed only so that the hashing
// key can be written with "never".
func (f *Fleet) bindingConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:         f.opts.BindingBucket,
		Description:    "caddy-saletrack: the binding: customer → click, hashed email → customer, checkout reference → click and customer",
		History:        1,
		TTL:            f.opts.BindingTTL,
		Storage:        jetstream.FileStorage,
		Replicas:       f.replicas(),
		LimitMarkerTTL: bindingMarkerTTL,
	}
}

// ensureBinding creates or checks the shared binding's bucket and reads
// (or writes, if no node has yet) its hashing key.
func (f *Fleet) ensureBinding(ctx context.Context) (*bindingBucket, error) {
	want := f.bindingConfig()
	kv, err := f.ensureKV(ctx, want, "binding_ttl (ttl)")
	if err != nil {
		return nil, err
	}
	key, err := f.sharedBindingKey(ctx, kv, want.Bucket)
	if err != nil {
		return nil, fmt.Errorf("nats kv bucket %s: %w", want.Bucket, err)
	}
	return &bindingBucket{kv: kv, key: key}, nil
}

// sharedBindingKey reads the bucket's hashing key, first creating it if
// it is not there. Of nodes starting together, the first write wins and
// the others read it.
func (f *Fleet) sharedBindingKey(ctx context.Context, kv jetstream.KeyValue, bucket string) (bindingKey, error) {
	for range 2 {
		e, err := kv.Get(ctx, bindingKeyEntry)
		if err == nil {
			if err := checkBindingKeySize(e.Value(), "purge it"); err != nil {
				return nil, fmt.Errorf("%s: %w", bindingKeyEntry, err)
			}
			return e.Value(), nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("%s: %w", bindingKeyEntry, err)
		}
		key := newBindingKey()
		msg := nats.NewMsg("$KV." + bucket + "." + bindingKeyEntry)
		msg.Data = key
		msg.Header.Set(jetstream.MsgTTLHeader, "never")
		// Expecting no earlier message on the key's subject is KV's Create.
		if _, err := f.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(0)); err == nil {
			return key, nil
		}
	}
	return nil, fmt.Errorf("%s: neither written nor readable", bindingKeyEntry)
}
