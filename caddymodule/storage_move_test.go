package caddymodule

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/saletrack/caddy-saletrack/delivery"
	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// newEndpointApp provisions an app on dir that sends to endpoint and
// retries within milliseconds, without starting it.
func newEndpointApp(t *testing.T, dir, endpoint string) *App {
	t.Helper()
	a := &App{StorageDir: dir, Endpoint: endpoint, FxSource: "http://127.0.0.1:9/eurofxref-daily.xml",
		BackoffBase: caddy.Duration(10 * time.Millisecond), BackoffCap: caddy.Duration(50 * time.Millisecond)}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	return a
}

// A reload that changes storage_dir does not strand the sales queued in
// the old outbox: when the old config lets go of it, they move into the
// outbox in use and are delivered from there, each once.
func TestStorageDirChangeMovesQueuedSales(t *testing.T) {
	platform := fake.NewPlatform()
	defer platform.Close()
	platform.Down()
	oldDir, newDir := t.TempDir(), t.TempDir()

	before := newEndpointApp(t, oldDir, platform.URL)
	if err := before.Start(); err != nil {
		t.Fatal(err)
	}
	var invoices []string
	for i := 0; i < 5; i++ {
		invoice := fmt.Sprint("inv_moved_", i)
		invoices = append(invoices, invoice)
		if outcome := before.commit(testSale(invoice)); outcome != outcomeCaptured {
			t.Fatalf("%s: %s", invoice, outcome)
		}
	}

	// A reload: the new config starts, then the old one stops.
	after := newEndpointApp(t, newDir, platform.URL)
	if err := after.Start(); err != nil {
		t.Fatal(err)
	}
	if err := before.Stop(); err != nil {
		t.Fatal(err)
	}
	// A sale the old config captures after it let go (a slow request
	// still finishing) goes to the outbox in use too.
	invoices = append(invoices, "inv_late")
	if outcome := before.commit(testSale("inv_late")); outcome != outcomeCaptured {
		t.Fatalf("late sale: %s", outcome)
	}
	if err := platform.Up(); err != nil {
		t.Fatal(err)
	}
	got := platform.WaitInvoices(t, invoices...)
	for _, invoice := range invoices {
		if got[invoice] != 1 {
			t.Errorf("%s arrived %d times, want once", invoice, got[invoice])
		}
	}
	if err := after.Stop(); err != nil {
		t.Fatal(err)
	}

	old, err := delivery.OpenOutbox(filepath.Join(oldDir, "outbox.db"), delivery.OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if q := delivery.NewEmitter(old, nil, delivery.EmitterOptions{}).Stats().Queued; q != 0 {
		t.Fatalf("the old outbox still holds %d queued sales", q)
	}
}
