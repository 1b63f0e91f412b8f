package delivery

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/sale"
	berrors "go.etcd.io/bbolt/errors"
)

func TestOutboxRedeliveryAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sales.db")
	ob, err := OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range []string{"INV-1", "INV-2", "INV-3"} {
		if _, err := ob.Enqueue(obSale(t, inv, obT0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ob.Enqueue(obSale(t, "INV-4", obT0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Enqueue after Close: %v, want ErrClosed", err)
	}

	ob, err = OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if q := ob.queued.Load(); q != 3 {
		t.Errorf("queued after reopen = %d, want 3", q)
	}
	items, _, err := ob.lease(time.Now(), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		ev, err := sale.DecodeRecord(it.rec.Event)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.InvoiceID)
		if ev.ID != sale.EventID(ev.InvoiceID) {
			t.Errorf("%s: ID %q changed across restart", ev.InvoiceID, ev.ID)
		}
	}
	if !slices.Equal(got, []string{"INV-1", "INV-2", "INV-3"}) {
		t.Errorf("after reopen: %v", got)
	}
	if res, _ := ob.Enqueue(obSale(t, "INV-2", obT0)); res != Duplicate {
		t.Errorf("dedup key lost across restart: %v", res)
	}
}

func TestOutboxCorruptFileMovedAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sales.db")
	clock := newObClock()
	for i, garbage := range [][]byte{
		bytes.Repeat([]byte("not a bbolt database\n"), 1000),
		[]byte("tiny"),
	} {
		if err := os.WriteFile(path, garbage, 0o600); err != nil {
			t.Fatal(err)
		}
		ob, err := OpenOutbox(path, OutboxOptions{Now: clock.Now})
		if err != nil {
			t.Fatalf("open over garbage: %v", err)
		}
		aside := path + ".corrupt-20260410T124510Z"
		if i > 0 {
			aside += "-1" // same second: never replace the first one
		}
		kept, err := os.ReadFile(aside)
		if err != nil || !bytes.Equal(kept, garbage) {
			t.Fatalf("moved-aside file %s: %v (content kept: %t)", aside, err, bytes.Equal(kept, garbage))
		}
		if res, err := ob.Enqueue(obSale(t, "INV-1", obT0)); err != nil || res != Queued {
			t.Fatalf("fresh outbox: %v, %v", res, err)
		}
		if err := ob.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOutboxCorruptPagesMovedAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sales.db")
	ob, err := OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := ob.Enqueue(obSale(t, fmt.Sprint("INV-", i), obT0)); err != nil {
			t.Fatal(err)
		}
	}
	ob.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Keep the meta pages, smash everything after them: bbolt opens the file
	// and then panics reading pages, which must not take the process down.
	for i := 2 * 4096; i < len(data); i++ {
		data[i] = 0xAB
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ob, err = OpenOutbox(path, OutboxOptions{Now: newObClock().Now})
	if err != nil {
		t.Fatalf("open over damaged pages: %v", err)
	}
	defer ob.Close()
	if _, err := os.Stat(path + ".corrupt-20260410T124510Z"); err != nil {
		t.Errorf("damaged file not moved aside: %v", err)
	}
	if q := ob.queued.Load(); q != 0 {
		t.Errorf("fresh outbox has %d queued", q)
	}
}

func TestOutboxLockTimeoutIsNotCorruption(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sales.db")
	first, err := OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, err = OpenOutbox(path, OutboxOptions{OpenTimeout: 50 * time.Millisecond})
	if !errors.Is(err, berrors.ErrTimeout) || !strings.Contains(err.Error(), path) {
		t.Fatalf("second open: %v; want a timeout naming the file", err)
	}
	entries, _ := filepath.Glob(path + "*")
	if len(entries) != 1 {
		t.Errorf("a locked file must not be moved aside; dir holds %v", entries)
	}
}

func TestOutboxStorageFull(t *testing.T) {
	ob := obOpen(t, OutboxOptions{MaxSize: 256 << 10})
	var full error
	var seqs []uint64
	for i := 0; i < 1000 && full == nil; i++ {
		ev := obSale(t, fmt.Sprint("INV-", i), obT0)
		ev.CustomerName = strings.Repeat("n", 4000)
		_, full = ob.Enqueue(ev)
	}
	if !errors.Is(full, ErrStorageFull) || !strings.Contains(full.Error(), ob.path) {
		t.Fatalf("filling a 256 KiB outbox: %v; want ErrStorageFull naming the file", full)
	}
	if ob.storageFailures.Load() != 1 {
		t.Errorf("storage failures = %d, want 1", ob.storageFailures.Load())
	}
	// Delivering frees pages for reuse: capture works again.
	items, _, err := ob.lease(time.Now(), 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items[:len(items)/2] {
		seqs = append(seqs, it.seq)
		if _, err := ob.complete(it.seq); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ob.Enqueue(obSale(t, "INV-after", obT0)); err != nil {
		t.Errorf("after freeing %d events: %v", len(seqs), err)
	}
}
