package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fleetAdminTimeout bounds one admin request's calls to NATS.
const fleetAdminTimeout = 10 * time.Second

// DeadLetters returns one page of the fleet's dead letters, oldest first,
// and how many there are; any node answers for all of them. Seq is the
// dead letter's sequence in the dead-letter stream.
func (f *Fleet) DeadLetters(offset, limit int) ([]DeadLetter, int, error) {
	offset = max(offset, 0)
	if limit <= 0 {
		limit = defaultDeadPage
	}
	limit = min(limit, maxDeadPage)
	ctx, cancel := context.WithTimeout(context.Background(), fleetAdminTimeout)
	defer cancel()
	letters := []DeadLetter{}
	seen := 0
	total, err := f.eachDead(ctx, func(seq uint64, data []byte) bool {
		if seen >= offset {
			letters = append(letters, decodeDead(seqKey(seq), data))
		}
		seen++
		return len(letters) < limit
	})
	return letters, total, err
}

// Replay puts the fleet's dead letters (all, or those of one invoice) back
// into the stream with a fresh max_event_age, and deletes them from the
// dead letters once the stream has them. It returns how many it moved.
func (f *Fleet) Replay(invoiceID string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), fleetAdminTimeout)
	defer cancel()
	type pick struct {
		seq uint64
		ev  []byte
	}
	var picks []pick
	_, err := f.eachDead(ctx, func(seq uint64, data []byte) bool {
		if dr, ok := replayable(data, invoiceID); ok {
			picks = append(picks, pick{seq, dr.Event})
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	stream, err := f.js.Stream(ctx, f.opts.DeadStream)
	if err != nil {
		return 0, err
	}
	moved := 0
	now := f.cfg.Load().opts.Now()
	for _, p := range picks {
		// The id is the dead letter's: replaying twice in a row does not
		// queue the event twice, and it is not the event's own id, which
		// the stream may still remember.
		if err := f.publishRecord(ctx, p.ev, now, "replay-"+strconv.FormatUint(p.seq, 10)); err != nil {
			return moved, fmt.Errorf("replaying dead letter %d: %w", p.seq, err)
		}
		if err := stream.DeleteMsg(ctx, p.seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return moved, fmt.Errorf("deleting replayed dead letter %d: %w", p.seq, err)
		}
		moved++
	}
	f.replayed.Add(uint64(moved))
	return moved, nil
}

// eachDead calls fn with each dead letter, oldest first, until it returns
// false, and says how many dead letters there are.
func (f *Fleet) eachDead(ctx context.Context, fn func(seq uint64, data []byte) bool) (int, error) {
	if !f.ready.Load() {
		return 0, ErrFleetDown
	}
	stream, err := f.js.Stream(ctx, f.opts.DeadStream)
	if err != nil {
		return 0, err
	}
	st := stream.CachedInfo().State
	total := int(st.Msgs)
	if total == 0 {
		return 0, nil
	}
	for seq := st.FirstSeq; seq <= st.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return total, err
		}
		if !fn(seq, m.Data) {
			break
		}
	}
	return total, nil
}
