package sale

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// Writes that share a commit succeed or fail alone: one failing write rolls
// back only itself, and every successful write is on disk.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
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
