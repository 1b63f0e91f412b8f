package caddymodule

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/delivery"
	"github.com/saletrack/caddy-saletrack/fx"
	"github.com/saletrack/caddy-saletrack/internal/httpcheck"
	"github.com/saletrack/caddy-saletrack/sale"
)

// pipelines holds one delivery per storage directory for the whole
// process. bbolt locks its file, and two workers would send every sale
// twice, so a reload must reuse what the running config opened.
var pipelines = caddy.NewUsagePool()

// live indexes the open pipelines by storage directory, so a request that
// outlived its config (its delivery already closed) can still hand its
// sale to the current one, and the admin API and metrics can find them.
var (
	liveMu sync.Mutex
	live   = map[string]*pipeline{}
)

// pipeline is the per-process state behind the sale_track app: the outbox,
// the worker that empties it, the rates fetcher and the open file sinks.
type pipeline struct {
	dir        string
	outboxPath string
	outbox     *delivery.Outbox
	emitter    *delivery.Emitter
	// fleet is the node's fleet membership when the config has nats;
	// fleetOpts are the options it started with.
	fleet     *delivery.Fleet
	fleetOpts delivery.FleetOptions
	rates     *fx.Fetcher
	logger    *zap.Logger

	settings atomic.Pointer[pipelineSettings]
	// opened are the settings the outbox and the rates fetcher were opened
	// with; a reload cannot change them.
	opened pipelineSettings

	mu    sync.Mutex
	files map[string]*delivery.FileSink
	// http is the current config's HTTP sink, whose idle connections are
	// closed when a reload replaces it.
	http *delivery.HTTPSink
	// holders are the started apps using this delivery, oldest first; the
	// newest one's settings are in force.
	holders []*App
	// restores counts the times release put an older config's settings
	// back: a reload that failed after its sale_track app had started.
	restores atomic.Int64
}

// pipelineSettings are the parts of the current config the request path
// reads.
type pipelineSettings struct {
	outbox   delivery.OutboxOptions
	fxMaxAge time.Duration
	fxSource string
}

// acquirePipeline takes (or opens) the delivery for the app's storage
// directory and applies the app's settings to it.
func acquirePipeline(a *App) (*pipeline, error) {
	val, loaded, err := pipelines.LoadOrNew(a.storageDir, func() (caddy.Destructor, error) {
		return openPipeline(a)
	})
	if err != nil {
		return nil, err
	}
	d := val.(*pipeline)
	if loaded {
		if err := d.configure(a); err != nil {
			_, _ = pipelines.Delete(a.storageDir)
			return nil, err
		}
	}
	d.mu.Lock()
	d.holders = append(d.holders, a)
	d.mu.Unlock()
	newest.Store(d)
	return d, nil
}

// newest is the pipeline of the config that started last: the one in force
// once a reload is done, and where a pipeline that is let go hands over its
// queued sales.
var newest atomic.Pointer[pipeline]

// release drops a from the holders. If a's settings were in force and an
// older config still holds the delivery (a reload that failed after a
// started), that config's settings are put back.
func (d *pipeline) release(a *App) {
	d.mu.Lock()
	wasCurrent := len(d.holders) > 0 && d.holders[len(d.holders)-1] == a
	for i, h := range d.holders {
		if h == a {
			d.holders = append(d.holders[:i], d.holders[i+1:]...)
			break
		}
	}
	var restore *App
	if wasCurrent && len(d.holders) > 0 {
		restore = d.holders[len(d.holders)-1]
	}
	d.mu.Unlock()
	if restore != nil {
		d.restores.Add(1)
		if err := d.configure(restore); err != nil {
			d.logger.Error("restoring the running config's delivery settings", zap.Error(err))
		}
	}
}

func openPipeline(a *App) (*pipeline, error) {
	logger := caddy.Log().Named("sale_track")
	d := &pipeline{
		dir:        a.storageDir,
		outboxPath: a.outboxPath(),
		logger:     logger,
		files:      map[string]*delivery.FileSink{},
	}
	d.settings.Store(d.settingsFor(a))
	d.opened = *d.settings.Load()
	ob, err := delivery.OpenOutbox(d.outboxPath, d.opened.outbox)
	if err != nil {
		return nil, fmt.Errorf("opening the sale_track outbox: %w", err)
	}
	d.outbox = ob
	sinks, err := d.sinksFor(a)
	if err != nil {
		_ = ob.Close()
		return nil, err
	}
	d.rates, err = fx.NewFetcher(fx.FetcherOptions{
		URL:       a.FxSource,
		CacheDir:  a.storageDir,
		Logger:    logger.Named("fx"),
		Overrides: a.FxRates,
	})
	if err != nil {
		_ = ob.Close()
		return nil, fmt.Errorf("sale_track exchange rates: %w", err)
	}
	d.http = httpSinkOf(sinks)
	d.emitter = delivery.NewEmitter(ob, sinks, emitterOptions(a, logger))
	if err := d.joinFleet(a, sinks); err != nil {
		_ = ob.Close()
		return nil, err
	}
	d.rates.Start()
	d.emitter.Start()
	liveMu.Lock()
	live[d.dir] = d
	liveMu.Unlock()
	logger.Info("sale delivery started",
		zap.String("outbox", d.outboxPath),
		zap.String("file", a.file),
		zap.String("platform", a.platform.Name),
		zap.String("sale_endpoint", httpcheck.Redact(a.sendURL(a.saleURL()))),
		zap.String("lead_endpoint", httpcheck.Redact(a.sendURL(a.leadURL()))))
	a.warnLeadsFileOnly(logger)
	return d, nil
}

// configure hands a reloaded config's settings to the running delivery.
func (d *pipeline) configure(a *App) error {
	sinks, err := d.sinksFor(a)
	if err != nil {
		return err
	}
	if err := d.rates.SetOverrides(a.FxRates); err != nil {
		return fmt.Errorf("sale_track fx_rate: %w", err)
	}
	next := d.settingsFor(a)
	if next.outbox.DedupWindow != d.opened.outbox.DedupWindow || next.outbox.MaxSize != d.opened.outbox.MaxSize || next.fxSource != d.opened.fxSource {
		d.logger.Warn("dedup_window, max_storage and fx_source take effect at the next start, not on a reload",
			zap.Duration("dedup_window", d.opened.outbox.DedupWindow),
			zap.Int64("max_storage", d.opened.outbox.MaxSize),
			zap.String("fx_source", httpcheck.Redact(d.opened.fxSource)))
	}
	d.settings.Store(next)
	d.outbox.SetBindingOptions(next.outbox.Binding)
	d.mu.Lock()
	old := d.http
	d.http = httpSinkOf(sinks)
	d.mu.Unlock()
	d.reconfigureDelivery(a, sinks)
	if old != nil && old != d.http {
		old.Close() // idle connections only: a send still running finishes
	}
	d.logger.Info("sale delivery reconfigured", zap.String("file", a.file), zap.String("platform", a.platform.Name),
		zap.String("sale_endpoint", httpcheck.Redact(a.sendURL(a.saleURL()))),
		zap.String("lead_endpoint", httpcheck.Redact(a.sendURL(a.leadURL()))))
	a.warnLeadsFileOnly(d.logger)
	return nil
}

// sendURL is url when the HTTP sink is on, else "".
func (a *App) sendURL(url string) string {
	if !a.sendsHTTP() {
		return ""
	}
	return url
}

// warnLeadsFileOnly says so when an HTTP sink has nowhere to send one kind
// of event: those go to the file sink only.
func (a *App) warnLeadsFileOnly(logger *zap.Logger) {
	switch {
	case !a.sendsHTTP():
	case a.leadURL() == "":
		logger.Warn("no lead_endpoint: leads go to the file sink only", zap.String("platform", a.platform.Name), zap.String("file", a.file))
	case a.saleURL() == "":
		logger.Warn("no endpoint: sales go to the file sink only", zap.String("platform", a.platform.Name), zap.String("file", a.file))
	case a.Endpoint != "" && a.LeadEndpoint == "" && a.APIBase == "":
		// A sale endpoint of one's own (a staging proxy, a receiver) with
		// leads still going to the platform's API is easy to miss.
		logger.Warn("endpoint is set but lead_endpoint is not: leads go to the platform's API",
			zap.String("platform", a.platform.Name), zap.String("lead_endpoint", httpcheck.Redact(a.leadURL())))
	}
	if a.Platform == "" && a.Endpoint != "" {
		logger.Warn("no platform named: sales are sent as CutMeShort's API takes them; name platform generic for the Sale Track page's example",
			zap.String("endpoint", httpcheck.Redact(a.Endpoint)))
	}
}

func httpSinkOf(sinks []delivery.Sink) *delivery.HTTPSink {
	for _, s := range sinks {
		if h, ok := s.(*delivery.HTTPSink); ok {
			return h
		}
	}
	return nil
}

func (d *pipeline) settingsFor(a *App) *pipelineSettings {
	opts := a.outboxOptions()
	opts.Logger = d.logger
	return &pipelineSettings{outbox: opts, fxMaxAge: time.Duration(a.FxMaxAge), fxSource: a.FxSource}
}

func (a *App) outboxOptions() delivery.OutboxOptions {
	return delivery.OutboxOptions{MaxSize: a.MaxStorage, DedupWindow: time.Duration(a.DedupWindow), Logger: a.logger,
		Binding: delivery.BindingOptions{TTL: time.Duration(a.BindingTTL), KeepFirst: a.Attribution == AttributionFirst}}
}

func (a *App) httpSinkOptions() delivery.HTTPSinkOptions {
	return delivery.HTTPSinkOptions{
		Platform:      a.platform,
		Endpoint:      a.saleURL(),
		LeadEndpoint:  a.leadURL(),
		APIKey:        a.apiKey,
		SigningSecret: a.signingSecret,
		Timeout:       time.Duration(a.SendTimeout),
		UserAgent:     userAgent(),
		SendUSD:       a.SendUSD,
		Connections:   a.Concurrency,
	}
}

func emitterOptions(a *App, logger *zap.Logger) delivery.EmitterOptions {
	return delivery.EmitterOptions{
		Concurrency:     a.Concurrency,
		BackoffBase:     time.Duration(a.BackoffBase),
		BackoffCap:      time.Duration(a.BackoffCap),
		MaxEventAge:     time.Duration(a.MaxEventAge),
		ShutdownTimeout: time.Duration(a.ShutdownTimeout),
		Logger:          logger,
		Observe:         observeDelivery,
	}
}

// sinksFor builds the app's sinks. A file sink stays open for the life of
// the delivery and is shared by every config that names the same path, so
// a reload never has two handles appending to one file.
func (d *pipeline) sinksFor(a *App) ([]delivery.Sink, error) {
	var sinks []delivery.Sink
	if a.sendsHTTP() {
		s, err := delivery.NewHTTPSink(a.httpSinkOptions())
		if err != nil {
			return nil, fmt.Errorf("sale_track endpoint: %w", err)
		}
		sinks = append(sinks, s)
	}
	if a.file != "" {
		d.mu.Lock()
		defer d.mu.Unlock()
		fs, ok := d.files[a.file]
		if !ok {
			var err error
			if fs, err = delivery.NewFileSink(a.file); err != nil {
				return nil, fmt.Errorf("sale_track file: %w", err)
			}
			d.files[a.file] = fs
		}
		sinks = append(sinks, fs)
	}
	return sinks, nil
}

// Destruct closes the delivery when the last config lets go of it: no new
// work is leased, in-flight sends get the shutdown timeout, and the
// database is closed. Unsent sales stay on disk for the next start.
func (d *pipeline) Destruct() error {
	liveMu.Lock()
	if live[d.dir] == d {
		delete(live, d.dir)
	}
	liveMu.Unlock()
	err := d.stopDelivery()
	d.rates.Stop()
	if next := newest.Load(); next != nil && next != d && livePipeline(next.dir) == next {
		d.handOver(next)
	}
	err = errors.Join(err, d.outbox.Close())
	d.mu.Lock()
	for _, fs := range d.files {
		err = errors.Join(err, fs.Close())
	}
	if d.http != nil {
		d.http.Close()
	}
	d.mu.Unlock()
	d.logger.Info("sale delivery stopped", zap.String("outbox", d.outboxPath))
	return err
}

// handOver moves this pipeline's queued sales into next's outbox: the
// config that used this storage directory is gone, and another one runs
// (storage_dir changed, or the global block was removed), so they would
// otherwise wait, unseen, for this directory to be used again. Dead
// letters stay where they are, and say so.
func (d *pipeline) handOver(next *pipeline) {
	moved, unreadable, err := d.outbox.MoveQueued(func(ev *sale.Event) error {
		_, err := next.enqueue(ev)
		return err
	})
	fields := []zap.Field{zap.String("from", d.outboxPath), zap.String("to", next.outboxPath), zap.Int("moved", moved)}
	if err != nil {
		d.logger.Error("storage_dir changed: not every queued sale could be moved; the rest stay in the old outbox until its storage_dir is used again",
			append(fields, zap.Error(err))...)
	} else if moved > 0 {
		d.logger.Warn("storage_dir changed: queued sales moved to the outbox in use", fields...)
	}
	if unreadable > 0 {
		d.logger.Warn("storage_dir changed: unreadable queued records stay in the old outbox", zap.String("outbox", d.outboxPath), zap.Int("count", unreadable))
	}
	if dead := d.emitter.Stats().Dead; dead > 0 {
		d.logger.Warn("storage_dir changed: dead letters stay in the old outbox; use its storage_dir again to replay them",
			zap.String("outbox", d.outboxPath), zap.Int64("count", dead))
	}
}

// enqueue commits a sale. While the delivery shuts down its outbox stays
// open until the worker has stopped, so a late sale still lands there. A
// request that outlived the delivery altogether hands its sale to the
// delivery that replaced it or, when Caddy is stopping, writes it straight
// into the outbox file for the next start to send.
func (d *pipeline) enqueue(ev *sale.Event) (delivery.EnqueueResult, error) {
	res, err := d.commitEvent(ev)
	if !errors.Is(err, delivery.ErrClosed) {
		return res, err
	}
	if other := livePipeline(d.dir); other != nil && other != d {
		return other.emitter.Enqueue(ev)
	}
	// Its directory is no longer in use (storage_dir changed): the
	// pipeline in force takes it, where it will be delivered.
	if next := newest.Load(); next != nil && next != d && livePipeline(next.dir) == next {
		d.logger.Warn("a sale captured under the previous storage_dir goes to the outbox in use",
			zap.String("from", d.outboxPath), zap.String("to", next.outboxPath), zap.String("event_id", ev.ID))
		return next.emitter.Enqueue(ev)
	}
	return enqueueDirect(d.outboxPath, d.settings.Load().outbox, ev)
}

// directMu serialises direct writes: bbolt's file lock conflicts even
// between two opens in one process.
var directMu sync.Mutex

// enqueueDirect opens the outbox file just long enough to commit one sale,
// for when no delivery is running (Caddy stopping, or the app failed to
// start). It waits for the file lock up to the outbox's open timeout.
func enqueueDirect(path string, opts delivery.OutboxOptions, ev *sale.Event) (delivery.EnqueueResult, error) {
	directMu.Lock()
	defer directMu.Unlock()
	ob, err := delivery.OpenOutbox(path, opts)
	if err != nil {
		return delivery.Queued, fmt.Errorf("no delivery running and the outbox could not be opened: %w", err)
	}
	defer ob.Close()
	return ob.Enqueue(ev)
}

func livePipeline(dir string) *pipeline {
	liveMu.Lock()
	defer liveMu.Unlock()
	return live[dir]
}

// liveDeliveries lists the open pipelines, for the admin API and metrics.
func liveDeliveries() []*pipeline {
	liveMu.Lock()
	defer liveMu.Unlock()
	out := make([]*pipeline, 0, len(live))
	for _, d := range live {
		out = append(out, d)
	}
	return out
}

var _ caddy.Destructor = (*pipeline)(nil)
