package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// fleetMaxAckPending bounds the events the whole fleet holds unacknowledged
// at once; each node also pulls no more than its concurrency.
const fleetMaxAckPending = 10000

// SettingsError says a NATS object exists with settings other than the
// config's. The module never changes them: an operator set them, or
// another node runs a different config.
type SettingsError struct {
	Object string   // "stream SALETRACK"
	Diffs  []string // "duplicate_window: has 1m0s, config wants 2m0s"
}

// Error lists every difference.
func (e *SettingsError) Error() string {
	return fmt.Sprintf("nats %s exists with other settings (%s); change it with the nats CLI or change the config, the module does not",
		e.Object, strings.Join(e.Diffs, "; "))
}

// settingsCheck collects the differences of one object.
type settingsCheck struct{ diffs []string }

func (c *settingsCheck) want(name string, has, want any) {
	if fmt.Sprint(has) != fmt.Sprint(want) {
		c.diffs = append(c.diffs, fmt.Sprintf("%s: has %v, config wants %v", name, has, want))
	}
}

func (c *settingsCheck) err(object string) error {
	if len(c.diffs) == 0 {
		return nil
	}
	return &SettingsError{Object: object, Diffs: c.diffs}
}

// streamConfigs are the events stream and the dead letters, as the module
// creates them.
func (f *Fleet) streamConfigs() (events, dead jetstream.StreamConfig) {
	r := f.replicas()
	events = jetstream.StreamConfig{
		Name:        f.opts.Stream,
		Description: "caddy-saletrack: committed sales and leads waiting for delivery",
		Subjects:    []string{f.opts.eventsSubject()},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    r,
		Duplicates:  f.opts.DuplicateWindow,
		// No limits: nothing committed may age out or be pushed out.
		Discard: jetstream.DiscardNew,
	}
	dead = jetstream.StreamConfig{
		Name:        f.opts.DeadStream,
		Description: "caddy-saletrack: sales and leads that could not be delivered",
		Subjects:    []string{f.opts.deadSubject()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    r,
		Duplicates:  f.opts.DuplicateWindow,
		Discard:     jetstream.DiscardNew,
	}
	return events, dead
}

// ensure creates what is missing and checks what exists.
func (f *Fleet) ensure(ctx context.Context) (jetstream.KeyValue, jetstream.Consumer, error) {
	events, dead := f.streamConfigs()
	stream, err := f.ensureStream(ctx, events)
	if err != nil {
		return nil, nil, err
	}
	if _, err := f.ensureStream(ctx, dead); err != nil {
		return nil, nil, err
	}
	kv, err := f.ensureKV(ctx, f.claimsConfig(), "dedup_window (ttl)")
	if err != nil {
		return nil, nil, err
	}
	if f.shared != nil {
		bk, err := f.ensureBinding(ctx)
		if err != nil {
			return nil, nil, err
		}
		f.shared.bucket.Store(bk)
	}
	cons, err := f.ensureConsumer(ctx, stream)
	if err != nil {
		return nil, nil, err
	}
	return kv, cons, nil
}

func (f *Fleet) ensureStream(ctx context.Context, want jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := f.js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = f.js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = f.js.Stream(ctx, want.Name) // another node was first
		} else if err == nil {
			f.log().Info("created nats stream", streamFields(want)...)
			return s, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("nats stream %s: %w", want.Name, err)
	}
	has := s.CachedInfo().Config
	var c settingsCheck
	c.want("subjects", has.Subjects, want.Subjects)
	c.want("retention", has.Retention, want.Retention)
	c.want("duplicate_window", has.Duplicates, want.Duplicates)
	if f.opts.Replicas > 0 {
		c.want("replicas", has.Replicas, want.Replicas)
	}
	if has.MaxAge != 0 || has.MaxMsgs > 0 || has.MaxBytes > 0 {
		if has.Discard != jetstream.DiscardNew {
			c.want("discard (with limits set)", has.Discard, jetstream.DiscardNew)
		}
	}
	return s, c.err("stream " + want.Name)
}

// claimsConfig is the claims bucket as the module creates it.
func (f *Fleet) claimsConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      f.opts.KVBucket,
		Description: "caddy-saletrack: fleet-wide dedup claims on invoice ids and leads",
		History:     1,
		TTL:         f.opts.DedupWindow,
		Storage:     jetstream.FileStorage,
		Replicas:    f.replicas(),
		// Per-key TTLs (the short pending claims) need it.
		LimitMarkerTTL: f.opts.PendingTTL,
	}
}

// ensureKV creates the bucket want describes if it is missing, or checks
// it: its TTL (the setting ttlName names), per-key TTLs allowed, and the
// replicas if the config gives them.
func (f *Fleet) ensureKV(ctx context.Context, want jetstream.KeyValueConfig, ttlName string) (jetstream.KeyValue, error) {
	kv, err := f.js.KeyValue(ctx, want.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = f.js.CreateKeyValue(ctx, want)
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			kv, err = f.js.KeyValue(ctx, want.Bucket)
		} else if err == nil {
			f.log().Info("created nats kv bucket", kvFields(want)...)
			return kv, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("nats kv bucket %s: %w", want.Bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("nats kv bucket %s: %w", want.Bucket, err)
	}
	var c settingsCheck
	c.want(ttlName, st.TTL(), want.TTL)
	if st.LimitMarkerTTL() <= 0 {
		c.want("limit_marker_ttl (per-key ttl)", st.LimitMarkerTTL(), want.LimitMarkerTTL)
	}
	if f.opts.Replicas > 0 {
		if js, ok := st.(*jetstream.KeyValueBucketStatus); ok {
			c.want("replicas", js.StreamInfo().Config.Replicas, want.Replicas)
		}
	}
	return kv, c.err("kv bucket " + want.Bucket)
}

func (f *Fleet) ensureConsumer(ctx context.Context, stream jetstream.Stream) (jetstream.Consumer, error) {
	want := jetstream.ConsumerConfig{
		Durable:       f.opts.Consumer,
		Description:   "caddy-saletrack: every node's delivery workers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       f.opts.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: fleetMaxAckPending,
		FilterSubject: f.opts.eventsSubject(),
	}
	cons, err := stream.Consumer(ctx, want.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = stream.CreateConsumer(ctx, want)
		if err == nil {
			f.log().Info("created nats consumer", consumerFields(f.opts.Stream, want)...)
			return cons, nil
		}
		if errors.Is(err, jetstream.ErrConsumerExists) {
			cons, err = stream.Consumer(ctx, want.Durable)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("nats consumer %s on %s: %w", want.Durable, f.opts.Stream, err)
	}
	has := cons.CachedInfo().Config
	var c settingsCheck
	c.want("ack_policy", has.AckPolicy, want.AckPolicy)
	c.want("ack_wait (2 × send_timeout)", has.AckWait, want.AckWait)
	c.want("filter_subject", has.FilterSubject, want.FilterSubject)
	return cons, c.err("consumer " + want.Durable)
}

func streamFields(c jetstream.StreamConfig) []zap.Field {
	return []zap.Field{zap.String("stream", c.Name), zap.Strings("subjects", c.Subjects), zap.String("retention", c.Retention.String()),
		zap.Int("replicas", c.Replicas), zap.Duration("duplicate_window", c.Duplicates)}
}

func kvFields(c jetstream.KeyValueConfig) []zap.Field {
	return []zap.Field{zap.String("bucket", c.Bucket), zap.Duration("ttl", c.TTL), zap.Int("replicas", c.Replicas)}
}

func consumerFields(stream string, c jetstream.ConsumerConfig) []zap.Field {
	return []zap.Field{zap.String("stream", stream), zap.String("consumer", c.Durable), zap.Duration("ack_wait", c.AckWait)}
}
