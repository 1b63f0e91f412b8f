package delivery

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// fillOutbox enqueues n sales into a fresh outbox at path.
func fillOutbox(t *testing.T, ob *Outbox, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := ob.Enqueue(obSale(t, fmt.Sprint("INV-", i), obT0)); err != nil {
			t.Fatal(err)
		}
	}
}

// zeroRootPage overwrites the root page of bucket with zeros, as a torn
// write would leave it. db is the file's database, open (and mapped) or
// about to be closed by the caller; the write goes around it.
func zeroRootPage(t *testing.T, db *bolt.DB, bucket []byte) {
	t.Helper()
	var root uint64
	err := db.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket(bucket).Root())
		return nil
	})
	if err != nil || root == 0 {
		t.Fatalf("bucket %s has no page of its own to damage (root %d): %v", bucket, root, err)
	}
	pageSize := db.Info().PageSize
	f, err := os.OpenFile(db.Path(), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, pageSize), int64(root)*int64(pageSize)); err != nil {
		t.Fatal(err)
	}
}

func asideFiles(t *testing.T, path string) []string {
	t.Helper()
	matches, err := filepath.Glob(path + ".corrupt-*")
	if err != nil {
		t.Fatal(err)
	}
	return matches
}

// A damaged page in any bucket is found when the outbox opens, not by a
// panic in a background goroutine later: the file is moved aside and a
// fresh one works.
func TestOpenFindsDamageInEveryBucket(t *testing.T) {
	for _, bucket := range [][]byte{bucketEvents, bucketDue, bucketDedup} {
		t.Run(string(bucket), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			ob, err := OpenOutbox(path, OutboxOptions{Now: newObClock().Now})
			if err != nil {
				t.Fatal(err)
			}
			fillOutbox(t, ob, 400)
			zeroRootPage(t, ob.db, bucket)
			ob.Close()

			ob, err = OpenOutbox(path, OutboxOptions{Now: newObClock().Now})
			if err != nil {
				t.Fatal(err)
			}
			defer ob.Close()
			if aside := asideFiles(t, path); len(aside) != 1 {
				t.Fatalf("files moved aside: %v, want the damaged one", aside)
			}
			if _, err := ob.sweepDedup(obT0); err != nil {
				t.Fatal(err)
			}
			if res, err := ob.Enqueue(obSale(t, "INV-0", obT0)); err != nil || res != Queued {
				t.Fatalf("the fresh outbox: %v, %v", res, err)
			}
		})
	}
}

// Damage found while the outbox runs fails the operation that found it,
// never the process; the outbox moves to a fresh file and goes on, with
// sequence numbers after the damaged file's.
func TestDamageFoundWhileRunningMovesToAFreshFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob, err := OpenOutbox(path, OutboxOptions{Now: newObClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	fillOutbox(t, ob, 400)
	zeroRootPage(t, ob.db, bucketDue)

	_, _, err = ob.lease(obT0, 10, func(uint64) bool { return false })
	if err == nil || !strings.Contains(err.Error(), "bbolt panicked") {
		t.Fatalf("lease on a damaged due bucket: %v, want the damage as an error", err)
	}
	if aside := asideFiles(t, path); len(aside) != 1 {
		t.Fatalf("files moved aside: %v, want the damaged one", aside)
	}
	if res, err := ob.Enqueue(obSale(t, "INV-new", obT0)); err != nil || res != Queued {
		t.Fatalf("enqueue after the damage: %v, %v", res, err)
	}
	items, _, err := ob.lease(obT0, 10, func(uint64) bool { return false })
	if err != nil || len(items) != 1 || items[0].seq <= 400 {
		t.Fatalf("lease from the fresh file: %d items (%v), want the new sale after sequence 400", len(items), err)
	}
	if _, err := ob.sweepDedup(obT0); err != nil {
		t.Fatal(err)
	}
}
