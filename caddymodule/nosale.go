package caddymodule

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// noSaleWarnAfter is how many candidate responses in a row (matching the
// route's status and content type) may pass with no sale before a WARN
// says so: a when that never holds, or a path that matches nothing, is
// otherwise only seen at DEBUG.
const noSaleWarnAfter = 20

// noSaleWarnEvery bounds the WARN to one per route in this time.
const noSaleWarnEvery = time.Hour

// noSaleWatch counts, per route, the candidates since the last sale, by
// reason, and warns when there are noSaleWarnAfter of them.
type noSaleWatch struct {
	mu     sync.Mutex
	routes map[string]*noSaleRun
}

type noSaleRun struct {
	count    int
	reasons  map[string]int
	lastWarn time.Time
}

func newNoSaleWatch() *noSaleWatch { return &noSaleWatch{routes: map[string]*noSaleRun{}} }

// see takes an entry of the live log; logger gives the WARN's logger, only
// when there is one to write. The WARN is written after the lock is let
// go: see is on the capture path, and a log write is I/O.
func (w *noSaleWatch) see(e outcomeEntry, logger func() *zap.Logger) {
	if warn := w.count(e); warn != nil {
		logger().Warn("responses matched this route's status and content type but none was a sale; check its fields and when conditions (caddy sale-track try shows why)",
			zap.String("route", e.Route), zap.Int("responses", warn.count), zap.Any("reasons", warn.reasons))
	}
}

// count adds e to its route's run and returns the run to warn about, when
// it is time to; the route starts a new run then.
func (w *noSaleWatch) count(e outcomeEntry) *noSaleRun {
	w.mu.Lock()
	defer w.mu.Unlock()
	run := w.routes[e.Route]
	if run == nil {
		run = &noSaleRun{reasons: map[string]int{}}
		w.routes[e.Route] = run
	}
	switch e.Outcome {
	case outcomeCaptured, outcomeDuplicate, outcomeFailed:
		// A sale: the route's config works.
		run.count = 0
		clear(run.reasons)
		return nil
	case outcomeNotSale, outcomeRejected, outcomeSkipped:
	default:
		return nil
	}
	run.count++
	run.reasons[e.Outcome+" "+e.code]++
	if run.count < noSaleWarnAfter || (!run.lastWarn.IsZero() && e.Time.Sub(run.lastWarn) < noSaleWarnEvery) {
		return nil
	}
	warn := &noSaleRun{count: run.count, reasons: run.reasons}
	run.lastWarn = e.Time
	run.count = 0
	run.reasons = map[string]int{}
	return warn
}
