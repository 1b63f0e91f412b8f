package caddymodule

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/bojanz/currency"
	"github.com/caddyserver/caddy/v2"

	"github.com/saletrack/caddy-saletrack/delivery"
	"github.com/saletrack/caddy-saletrack/sale"
)

// newTestApp provisions an app on a temp storage dir with only a file
// sink (no network), without starting it.
func newTestApp(t *testing.T) *App {
	t.Helper()
	dir := t.TempDir()
	a := &App{StorageDir: dir, File: filepath.Join(dir, "sales.jsonl"), FxSource: "http://127.0.0.1:9/eurofxref-daily.xml", BackoffBase: caddy.Duration(time.Hour), BackoffCap: caddy.Duration(time.Hour)}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	return a
}

func testSale(invoice string) *sale.Event {
	amount, _ := currency.NewAmount("10.00", "USD")
	now := time.Now().UTC()
	return &sale.Event{EventName: "sale", Timestamp: now, CapturedAt: now, CustomerExternalID: "u1", Amount: amount, InvoiceID: invoice, Route: "test"}
}

// committed reports whether the outbox file (opened after the app let go
// of it) has seen invoice: queued or already delivered, its dedup key
// stays, so enqueueing it again is a duplicate.
func committed(t *testing.T, a *App, invoice string) bool {
	t.Helper()
	ob, err := delivery.OpenOutbox(a.outboxPath(), delivery.OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	res, err := ob.Enqueue(testSale(invoice))
	if err != nil {
		t.Fatal(err)
	}
	return res == delivery.Duplicate
}

// Caddy starts apps in no fixed order: a capture that arrives before the
// sale_track app has started waits for Start and is committed.
func TestCaptureBeforeStartWaitsForIt(t *testing.T) {
	a := newTestApp(t)
	done := make(chan struct{})
	go func() {
		a.commit(testSale("inv_before_start"))
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("the capture did not wait for the app to start")
	case <-time.After(100 * time.Millisecond):
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the capture did not finish after Start")
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if !committed(t, a, "inv_before_start") {
		t.Fatal("the sale captured before Start is not in the outbox")
	}
}

// A request that outlives its config (Caddy stopping, the delivery already
// destroyed) still gets its sale into the outbox file for the next start.
func TestEnqueueAfterDestructReachesTheFile(t *testing.T) {
	a := newTestApp(t)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	d := a.run.pipeline.Load()
	if err := a.Stop(); err != nil { // the last holder: the delivery is destroyed
		t.Fatal(err)
	}
	if livePipeline(a.storageDir) != nil {
		t.Fatal("the delivery is still live after the last Stop")
	}
	if res, err := d.enqueue(testSale("inv_after_stop")); err != nil || res != delivery.Queued {
		t.Fatalf("late enqueue: %v, %v", res, err)
	}
	if !committed(t, a, "inv_after_stop") {
		t.Fatal("the late sale is not in the outbox")
	}
}
