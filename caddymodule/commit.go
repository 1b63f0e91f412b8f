package caddymodule

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/saletrack/caddy-saletrack/delivery"
	"github.com/saletrack/caddy-saletrack/fx"
	"github.com/saletrack/caddy-saletrack/sale"
)

// The outcomes of a commit, as {http.vars.sale_track.status} shows them.
const (
	outcomeCaptured  = "captured"
	outcomeDuplicate = "duplicate"
	outcomeFailed    = "failed"
)

// commit normalises a valid sale to USD and commits it to the outbox. It
// returns once the sale is on disk, with the outcome; delivery happens in
// the background. A sale that could not be stored is logged in full.
func (a *App) commit(ev *sale.Event) string {
	var res delivery.EnqueueResult
	var err error
	if d := a.currentPipeline(); d != nil {
		if !ev.IsLead() { // a lead carries no money
			d.convert(ev)
		}
		res, err = d.enqueue(ev)
	} else {
		// The app failed to start: the sale still goes to disk, for the
		// next start to send.
		res, err = enqueueDirect(a.outboxPath(), a.outboxOptions(), ev)
	}
	if err != nil {
		a.logFailed(ev, err)
		metricStorageFailure(ev.Route, ev.Kind)
		observeCommit(ev, outcomeFailed, err)
		return outcomeFailed
	}
	if res == delivery.Duplicate {
		metricDuplicate(ev.Route, ev.Kind)
		observeCommit(ev, outcomeDuplicate, nil)
		a.logger.Debug("duplicate sale not enqueued", zap.String("route", ev.Route), zap.String("invoice_id", ev.InvoiceID))
		return outcomeDuplicate
	}
	metricCaptured(ev)
	countFilled(ev)
	observeCommit(ev, outcomeCaptured, nil)
	// Check first: building these fields costs more than the check, on
	// every sale, and DEBUG is usually off.
	if ce := a.logger.Check(zapcore.DebugLevel, "sale captured"); ce != nil {
		ce.Write(zap.String("route", ev.Route),
			zap.String("event_id", ev.ID),
			zap.String("invoice_id", ev.InvoiceID),
			zap.String("customer_id", ev.CustomerExternalID),
			zap.String("amount", fx.JSONNumber(ev.Amount)),
			zap.String("currency", ev.Currency()),
			zap.String("click_id", ev.ClickID),
			zap.String("email", ev.CustomerEmail),
			zap.String("name", ev.CustomerName))
	}
	return outcomeCaptured
}

// later runs work after a response, off its path, counted among the
// commits the app's Stop and the process's exit wait for. A panic in it
// is logged, never allowed to end the process.
func (a *App) later(work func()) {
	a.run.pending.add()
	commitsInFlight.add()
	go func() {
		defer commitsInFlight.done()
		defer a.run.pending.done()
		defer func() {
			if p := recover(); p != nil {
				a.logger.Error("background work panicked and was stopped; Caddy goes on: please report this with the stack",
					zap.Any("panic", p), zap.Stack("stack"))
			}
		}()
		// A goroutine started by the handler runs next on its thread,
		// ahead of the server's writer that finishes the response (the
		// HTTP/2 stream's end, the last chunk): yielding once lets the
		// response go out first.
		runtime.Gosched()
		work()
	}()
}

// commitsInFlight counts every app's background commits, for the exit.
var commitsInFlight pendingCommits

// exitCommitWait bounds how long the process's exit waits for them.
const exitCommitWait = 10 * time.Second

func init() {
	// Caddy runs exit callbacks after it has stopped every app, the http
	// servers' draining included, and just before the process ends.
	caddy.OnExit(func(context.Context) {
		if n := commitsInFlight.wait(exitCommitWait); n > 0 {
			caddy.Log().Named("sale_track").Error("exiting with sales still being read or committed; look for them in the log",
				zap.Int("count", n))
		}
	})
}

// pendingCommits counts the commits running after their responses. Unlike
// a sync.WaitGroup it may be added to while Stop waits: a request can still
// be finishing as its config stops.
type pendingCommits struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to zero
}

func (p *pendingCommits) add() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		p.idle = make(chan struct{})
	}
	p.n++
}

func (p *pendingCommits) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n--; p.n == 0 {
		close(p.idle)
	}
}

// wait returns once no commit is running, or after timeout; it reports
// how many were still running then.
func (p *pendingCommits) wait(timeout time.Duration) int {
	p.mu.Lock()
	if p.n == 0 {
		p.mu.Unlock()
		return 0
	}
	idle := p.idle
	p.mu.Unlock()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-idle:
	case <-timer.C:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// logFailed leaves the trace a sale that could not be stored must leave:
// every field needed to send it by hand, but never the email or the name.
func (a *App) logFailed(ev *sale.Event, err error) {
	a.logger.Error("sale could not be stored; resend it from this line",
		zap.Error(err),
		zap.String("route", ev.Route),
		zap.String("event_id", ev.ID),
		zap.String("event", a.platform.EventName(ev)),
		zap.String("timestamp", ev.Timestamp.UTC().Format(sale.TimestampLayout)),
		zap.String("customer_id", ev.CustomerExternalID),
		zap.String("amount", fx.JSONNumber(ev.Amount)),
		zap.String("currency", ev.Currency()),
		zap.String("invoice_id", ev.InvoiceID),
		zap.String("click_id", ev.ClickID))
}

// convert records the sale's value in USD at the rate of its capture day.
// A sale in a currency with no rate goes out in its own currency.
func (d *pipeline) convert(ev *sale.Event) {
	if ev.Currency() == "USD" {
		ev.USD = &sale.USDValue{Amount: ev.Amount}
		return
	}
	conv, err := d.rates.Book().ToUSD(ev.Amount, ev.CapturedAt, d.settings.Load().fxMaxAge)
	if err != nil {
		metricFxMissing(ev.Currency())
		d.logger.Warn("no exchange rate: sale sent without a USD amount",
			zap.String("currency", ev.Currency()), zap.String("invoice_id", ev.InvoiceID), zap.Error(err))
		return
	}
	if conv.Stale {
		metricFxStale()
		d.logger.Warn("exchange rates are stale", zap.String("rates_date", conv.Date), zap.String("currency", ev.Currency()))
	}
	ev.USD = &sale.USDValue{Amount: conv.USD, Rate: conv.Rate, Date: conv.Date}
}

var (
	versionOnce sync.Once
	version     = "devel"
)

// userAgent names the module and its version, as built into the binary.
func userAgent() string {
	versionOnce.Do(func() {
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, dep := range info.Deps {
				if dep.Path == "github.com/saletrack/caddy-saletrack" && dep.Version != "" {
					version = dep.Version
				}
			}
		}
	})
	return "caddy-saletrack/" + version
}
