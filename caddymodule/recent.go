package caddymodule

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/saletrack/caddy-saletrack/sale"
)

// The outcomes the live capture log shows beside those of a commit
// (captured, duplicate, failed): what became of a candidate response that
// was no sale, and what became of a sale after it was stored.
const (
	outcomeRejected  = "rejected"
	outcomeNotSale   = "not_sale"
	outcomeSkipped   = "skipped"
	outcomeDelivered = "delivered"
	outcomeDead      = "dead"
)

// outcomeEntry is one line of the live capture log. It never holds an
// email or a name.
type outcomeEntry struct {
	// seq numbers the entries of the process, for a follower that
	// reconnects (the SSE id).
	seq       uint64
	Time      time.Time `json:"time"`
	Route     string    `json:"route"`
	Kind      string    `json:"kind"`
	Outcome   string    `json:"outcome"`
	Reason    string    `json:"reason"`
	InvoiceID string    `json:"invoice_id"`
	EventID   string    `json:"event_id"`
	// Origin is where a captured event's customer and click came from, so
	// a shop can audit what the binding filled in.
	Origin *sale.Origin `json:"origin,omitempty"`
	// code is the reason's short name, as the skipped and rejected
	// metrics label it, for counts.
	code string
}

// followerBuffer is how many entries a follower may fall behind by before
// it is dropped; it reconnects from the last entry it saw.
const followerBuffer = 256

// follower receives entries as they are added. Its channel is closed when
// it fell too far behind or the log let it go.
type follower struct {
	ch chan outcomeEntry
}

// recentLog keeps the last entries in a ring and hands new ones to its
// followers. It is one per process, so it outlives config reloads.
type recentLog struct {
	mu      sync.Mutex
	ring    []outcomeEntry // capacity entries; the oldest at start
	start   int
	n       int
	lastSeq uint64
	follows map[*follower]struct{}
}

func newRecentLog(capacity int) *recentLog {
	return &recentLog{ring: make([]outcomeEntry, capacity), follows: map[*follower]struct{}{}}
}

// add numbers e, keeps it, and hands it to every follower; a follower whose
// buffer is full is let go rather than waited for.
func (l *recentLog) add(e outcomeEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastSeq++
	e.seq = l.lastSeq
	if l.n < len(l.ring) {
		l.ring[(l.start+l.n)%len(l.ring)] = e
		l.n++
	} else {
		l.ring[l.start] = e
		l.start = (l.start + 1) % len(l.ring)
	}
	for f := range l.follows {
		select {
		case f.ch <- e:
		default:
			l.dropLocked(f)
		}
	}
}

// at is the i-th entry kept, 0 being the oldest.
func (l *recentLog) at(i int) outcomeEntry { return l.ring[(l.start+i)%len(l.ring)] }

// newest returns up to limit entries, newest first.
func (l *recentLog) newest(limit int) []outcomeEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]outcomeEntry, 0, min(limit, l.n))
	for i := l.n - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, l.at(i))
	}
	return out
}

// eventID is an entry's id on a stream: the process's boot, then its
// seq. A follower that reconnects to a Caddy that restarted meanwhile
// holds the id of another boot, whose numbers mean nothing here.
func eventID(seq uint64) string { return processBoot + "-" + strconv.FormatUint(seq, 10) }

// processBoot tells this process's stream ids from those of another.
var processBoot = strconv.FormatInt(time.Now().UnixNano(), 36)

// follow starts following. past holds, oldest first, the entries after
// lastID when it is the id of an entry of this process (a follower that
// reconnects), every entry kept when it is another's (all came after the
// follower's last one, since Caddy restarted), else the last backlog
// ones; nothing is missed or repeated between past and the channel.
func (l *recentLog) follow(lastID string, backlog int) (past []outcomeEntry, f *follower) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := max(l.n-backlog, 0)
	boot, seq, _ := strings.Cut(lastID, "-")
	after, err := strconv.ParseUint(seq, 10, 64)
	switch {
	case lastID == "":
	case boot != processBoot || err != nil:
		first = 0
	case after > 0:
		first = l.n
		for first > 0 && l.at(first-1).seq > after {
			first--
		}
	}
	for i := first; i < l.n; i++ {
		past = append(past, l.at(i))
	}
	f = &follower{ch: make(chan outcomeEntry, followerBuffer)}
	l.follows[f] = struct{}{}
	return past, f
}

// unfollow lets f go; it may have been let go already.
func (l *recentLog) unfollow(f *follower) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropLocked(f)
}

func (l *recentLog) dropLocked(f *follower) {
	if _, ok := l.follows[f]; ok {
		delete(l.follows, f)
		close(f.ch)
	}
}

// resize keeps the newest entries that fit a ring of capacity entries.
func (l *recentLog) resize(capacity int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if capacity == len(l.ring) {
		return
	}
	ring := make([]outcomeEntry, capacity)
	keep := min(l.n, capacity)
	for i := range keep {
		ring[i] = l.at(l.n - keep + i)
	}
	l.ring, l.start, l.n = ring, 0, keep
}
