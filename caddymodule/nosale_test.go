package caddymodule

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// A route whose candidates are never sales gets one WARN with the reasons
// after noSaleWarnAfter of them, and no other for an hour; a sale starts
// the count again.
func TestNoSaleWatchWarnsOncePerHour(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	logger := func() *zap.Logger { return zap.New(core) }
	w := newNoSaleWatch()
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	see := func(outcome, code string) {
		at = at.Add(time.Second)
		w.see(outcomeEntry{Time: at, Route: "checkout", Outcome: outcome, code: code}, logger)
	}
	for range noSaleWarnAfter - 1 {
		see(outcomeNotSale, "condition")
	}
	see(outcomeCaptured, "")
	for range noSaleWarnAfter - 2 {
		see(outcomeNotSale, "condition")
	}
	if logs.Len() != 0 {
		t.Fatalf("warned before %d candidates in a row: %v", noSaleWarnAfter, logs.All())
	}
	see(outcomeSkipped, "malformed")
	see(outcomeDelivered, "") // a delivery is no candidate
	see(outcomeRejected, "amount")
	if logs.Len() != 1 {
		t.Fatalf("%d WARNs after %d candidates, want 1", logs.Len(), noSaleWarnAfter)
	}
	fields := logs.All()[0].ContextMap()
	reasons, _ := fields["reasons"].(map[string]int)
	if fields["route"] != "checkout" || fields["responses"] != int64(noSaleWarnAfter) ||
		reasons["not_sale condition"] != noSaleWarnAfter-2 || reasons["skipped malformed"] != 1 || reasons["rejected amount"] != 1 {
		t.Errorf("WARN fields %v", fields)
	}
	for range 2 * noSaleWarnAfter {
		see(outcomeNotSale, "condition")
	}
	if logs.Len() != 1 {
		t.Errorf("%d WARNs within the hour, want 1", logs.Len())
	}
	at = at.Add(noSaleWarnEvery)
	for range noSaleWarnAfter {
		see(outcomeNotSale, "condition")
	}
	if logs.Len() != 2 {
		t.Errorf("%d WARNs an hour later, want 2", logs.Len())
	}
}

// blockingCore is a zap core whose writes wait until released, as a log
// file on a stalled disk would.
type blockingCore struct {
	zapcore.Core
	writing chan struct{}
	release chan struct{}
}

func (c blockingCore) Enabled(zapcore.Level) bool { return true }

func (c blockingCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce.AddCore(e, c)
}

func (c blockingCore) Write(zapcore.Entry, []zapcore.Field) error {
	c.writing <- struct{}{}
	<-c.release
	return nil
}

// The WARN is written outside the watch's lock: while it is being
// written, other routes' outcomes are still counted, so a slow log never
// holds up a capture.
func TestNoSaleWarnDoesNotHoldTheLock(t *testing.T) {
	core := blockingCore{Core: zapcore.NewNopCore(), writing: make(chan struct{}), release: make(chan struct{})}
	logger := func() *zap.Logger { return zap.New(core) }
	w := newNoSaleWatch()
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for range noSaleWarnAfter - 1 {
		w.see(outcomeEntry{Time: at, Route: "slow", Outcome: outcomeNotSale, code: "condition"}, logger)
	}
	go w.see(outcomeEntry{Time: at, Route: "slow", Outcome: outcomeNotSale, code: "condition"}, logger)
	<-core.writing
	defer close(core.release)
	counted := make(chan struct{})
	go func() {
		w.see(outcomeEntry{Time: at, Route: "other", Outcome: outcomeCaptured}, logger)
		close(counted)
	}()
	select {
	case <-counted:
	case <-time.After(10 * time.Second):
		t.Fatal("an outcome waited for the WARN being written")
	}
}
