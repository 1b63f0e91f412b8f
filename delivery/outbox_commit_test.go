package delivery

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// openGroupDB opens a bbolt file with a bucket "b", closed with the test.
func openGroupDB(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	return db
}

// Writes that share a commit succeed or fail alone: one failing write rolls
// back only itself, and every successful write is on disk.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	db := openGroupDB(t)
	g := newGroupCommitter(db)
	errBad := errors.New("bad write")
	const n = 300
	results := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = g.do(func(tx *bolt.Tx) error {
				if i%50 == 7 {
					return errBad
				}
				return tx.Bucket([]byte("b")).Put([]byte(fmt.Sprint(i)), []byte("v"))
			})
		}(i)
	}
	wg.Wait()
	g.stop()
	db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := 0; i < n; i++ {
			stored := b.Get([]byte(fmt.Sprint(i))) != nil
			if i%50 == 7 {
				if !errors.Is(results[i], errBad) || stored {
					t.Errorf("write %d: err %v, stored %v; want its own error and nothing stored", i, results[i], stored)
				}
			} else if results[i] != nil || !stored {
				t.Errorf("write %d: err %v, stored %v; want it committed", i, results[i], stored)
			}
		}
		return nil
	})
}

// stop commits what is queued before it returns.
func TestGroupCommitStopDrains(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g := newGroupCommitter(db)
	var wg sync.WaitGroup
	var mu sync.Mutex
	committed := 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if g.do(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("x")); return err }) == nil {
				mu.Lock()
				committed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	g.stop()
	if committed != 50 {
		t.Fatalf("%d of 50 writes committed", committed)
	}
}

// Writes with nothing to write succeed; when no write in the group changed
// anything the transaction is rolled back, not committed, and when some
// did, those are committed as usual.
func TestGroupCommitSkipsEmptyCommits(t *testing.T) {
	db := openGroupDB(t)
	txid := func() (id int) {
		db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	nothing := func(*bolt.Tx) error { return errNothingToWrite }
	put := func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("k"), []byte("v")) }

	g := newGroupCommitter(db)
	defer g.stop()
	before := txid()
	if err := g.commitNow(nothing, nothing); err != nil {
		t.Fatalf("a group with nothing to write: %v", err)
	}
	if after := txid(); after != before {
		t.Errorf("a group with nothing to write committed (txid %d → %d)", before, after)
	}
	if err := g.commitNow(nothing, put); err != nil {
		t.Fatal(err)
	}
	if after := txid(); after != before+1 {
		t.Errorf("a group with one write: txid %d → %d, want one commit", before, after)
	}
	db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("b")).Get([]byte("k")) == nil {
			t.Error("the write that shared a group with nothing-to-write was not stored")
		}
		return nil
	})
}

// commitNow commits fns as one group, as the loop would, and returns the
// first error any of them got.
func (g *groupCommitter) commitNow(fns ...func(*bolt.Tx) error) error {
	group := make([]commitRequest, len(fns))
	for i, fn := range fns {
		group[i] = commitRequest{fn: fn, done: make(chan error, 1)}
	}
	g.commit(group)
	var first error
	for _, r := range group {
		if err := <-r.done; err != nil && first == nil {
			first = err
		}
	}
	return first
}
