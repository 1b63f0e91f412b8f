package delivery

import (
	"errors"

	bolt "go.etcd.io/bbolt"
)

// errNothingToWrite is what a write returns when it found nothing to
// change (a duplicate sale). It is not a failure: the write's caller gets
// nil. A group made only of such writes is rolled back rather than
// committed, since a commit with no changes still writes the freelist and
// the meta page and waits for two fdatasyncs.
var errNothingToWrite = errors.New("nothing to write")

// maxGroup bounds how many writes share one commit, so one transaction
// never grows without limit under a flood.
const maxGroup = 1000

// commitRequest is one write waiting for a shared commit.
type commitRequest struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// groupCommitter runs writes in shared, fsync'd transactions: the first
// write to arrive is committed at once, and every write that arrives while
// that commit is on its way to disk shares the next one. Unlike bbolt's
// Batch it never waits on a timer, so a lone sale costs one commit (two
// fdatasyncs) and a burst of a hundred costs a few.
type groupCommitter struct {
	db       *bolt.DB
	requests chan commitRequest
	stopped  chan struct{}
}

func newGroupCommitter(db *bolt.DB) *groupCommitter {
	g := &groupCommitter{db: db, requests: make(chan commitRequest, maxGroup), stopped: make(chan struct{})}
	go g.loop()
	return g
}

// do commits fn, with whatever else is waiting, and returns fn's outcome.
// fn may run twice (see commit), so it must derive everything from tx.
func (g *groupCommitter) do(fn func(*bolt.Tx) error) error {
	done := make(chan error, 1)
	g.requests <- commitRequest{fn: fn, done: done}
	return <-done
}

// stop ends the loop once every queued write is committed. Nothing may call
// do after stop.
func (g *groupCommitter) stop() {
	close(g.requests)
	<-g.stopped
}

func (g *groupCommitter) loop() {
	defer close(g.stopped)
	group := make([]commitRequest, 0, maxGroup)
	for first := range g.requests {
		group = append(group[:0], first)
	drain:
		for len(group) < maxGroup {
			select {
			case r, ok := <-g.requests:
				if !ok {
					break drain
				}
				group = append(group, r)
			default:
				break drain
			}
		}
		g.commit(group)
	}
}

// commit runs the group in one transaction. If any write fails, the whole
// transaction rolls back and each write is retried alone, so one bad write
// (or a full disk reached halfway) fails only itself.
func (g *groupCommitter) commit(group []commitRequest) {
	err := g.update(func(tx *bolt.Tx) error {
		wrote := false
		for _, r := range group {
			switch err := r.fn(tx); {
			case errors.Is(err, errNothingToWrite):
			case err != nil:
				return err
			default:
				wrote = true
			}
		}
		if !wrote {
			return errNothingToWrite
		}
		return nil
	})
	if err == nil || len(group) == 1 {
		for _, r := range group {
			r.done <- err
		}
		return
	}
	for _, r := range group {
		r.done <- g.update(r.fn)
	}
}

// update is db.Update, but a transaction that ends in errNothingToWrite
// is rolled back and reported as a success, and one that panics (a
// damaged page) is reported as a corruptError: this goroutine serves every
// write, and a panic here would end the process.
func (g *groupCommitter) update(fn func(*bolt.Tx) error) (err error) {
	defer catchPanic(&err)
	err = g.db.Update(fn)
	if errors.Is(err, errNothingToWrite) {
		return nil
	}
	return err
}
