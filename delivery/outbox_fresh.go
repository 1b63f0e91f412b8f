package delivery

import (
	"sync"
	"time"

	"github.com/saletrack/caddy-saletrack/sale"
)

// freshMax bounds the events kept for their first attempt: a few MiB at
// most. The worker takes them within moments, but under a burst of
// captures it falls thousands behind (1,024 left most of a saturating
// benchmark's deliveries reading the file). What does not fit, or waits
// with no sinks configured, is read from the file as before.
const freshMax = 8192

// freshEvents hands events committed moments ago to their first delivery
// attempt as they are in memory, so that it reads and decodes nothing: the
// record on disk is what the event was encoded into, and every later
// attempt (after a failure, a restart, a replay) reads that record.
//
// An entry is put inside the write transaction that assigns its seq,
// before that transaction commits, so a lease that sees the seq committed
// always finds the entry that belongs to it. A transaction that rolls back
// leaves its entry behind, but its seq is handed out again to the next
// transaction that commits, which overwrites (enqueue) or drops (replay)
// the entry.
type freshEvents struct {
	mu sync.Mutex
	m  map[uint64]freshEvent
}

type freshEvent struct {
	ev    *sale.Event
	since time.Time
}

// put keeps ev for seq, unless the map is full or ev has a string that
// decoding the record would change (invalid UTF-8 becomes U+FFFD): the
// first attempt must send exactly what a resend from the file sends.
func (f *freshEvents) put(seq uint64, ev *sale.Event, since time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = make(map[uint64]freshEvent)
	}
	if len(f.m) >= freshMax || !ev.ValidUTF8() {
		delete(f.m, seq)
		return
	}
	f.m[seq] = freshEvent{ev: ev, since: since}
}

// drop forgets seq: its record on disk is another event now.
func (f *freshEvents) drop(seq uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, seq)
}

// take returns and forgets the event kept for seq.
func (f *freshEvents) take(seq uint64) (freshEvent, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.m[seq]
	if ok {
		delete(f.m, seq)
	}
	return e, ok
}

// clear forgets every kept event: their sequence numbers belonged to a
// file that is gone.
func (f *freshEvents) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.m)
}
