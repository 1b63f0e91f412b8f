package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A claim in the KV bucket is in one of two states. "pending <node>
// <unix nanos>" is written with Create and a short per-key TTL, before
// the event is published: a node that dies before publishing holds the
// invoice for PendingTTL only, not the whole dedup window. "done" replaces
// it once the stream has the event, and lasts the bucket's TTL, which is
// dedup_window.
const (
	claimDone    = "done"
	claimPending = "pending"
)

// claimResult is what claiming an invoice came to.
type claimResult int

const (
	claimed       claimResult = iota // this node may publish the event
	duplicate                        // the fleet has it, or another node is publishing it
	heldElsewhere                    // another node's pending claim, not yet stale
)

// claimKey is the KV key of a dedup key: KV keys take a few characters
// only, and invoice ids take any.
func claimKey(dedupKey string) string {
	sum := sha256.Sum256([]byte(dedupKey))
	return "c." + hex.EncodeToString(sum[:])
}

func (f *Fleet) pendingValue() []byte {
	return []byte(claimPending + " " + f.opts.Node + " " + strconv.FormatInt(time.Now().UnixNano(), 10))
}

// claim takes the fleet-wide claim on dedupKey. A pending claim of this
// node (an event it spooled after claiming) is its own; another node's
// pending claim older than PendingTTL is stale and taken over; a done
// claim is a duplicate.
func (f *Fleet) claim(ctx context.Context, kv jetstream.KeyValue, dedupKey string) (claimResult, error) {
	key := claimKey(dedupKey)
	for range 3 {
		_, err := kv.Create(ctx, key, f.pendingValue(), jetstream.KeyTTL(f.opts.PendingTTL))
		if err == nil {
			return claimed, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("claiming invoice: %w", err)
		}
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue // expired in between: claim again
		}
		if err != nil {
			return 0, fmt.Errorf("reading invoice claim: %w", err)
		}
		state, node, _ := strings.Cut(string(e.Value()), " ")
		switch {
		case state != claimPending:
			return duplicate, nil
		case strings.HasPrefix(node, f.opts.Node+" "):
			return claimed, nil
		case time.Since(e.Created()) < f.opts.PendingTTL:
			return heldElsewhere, nil
		}
		// Stale: delete it at the revision read, so of two nodes taking
		// it over only one succeeds, then claim it anew.
		if err := kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
			return heldElsewhere, nil
		}
	}
	return heldElsewhere, nil
}

// claimDoneFor marks a claim done: the event is in the stream. It is a
// plain Put: whoever held the claim, the stream has the event now.
func (f *Fleet) claimDoneFor(ctx context.Context, kv jetstream.KeyValue, dedupKey string) error {
	_, err := kv.Put(ctx, claimKey(dedupKey), []byte(claimDone))
	return err
}
