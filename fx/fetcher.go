package fx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/internal/httpcheck"
)

// Defaults for FetcherOptions.
const (
	DefaultTimeout   = 30 * time.Second // whole request, connect to last byte
	DefaultRetryBase = 30 * time.Second // first retry after a failed refresh
)

const (
	maxRetryDelay = time.Hour
	// maxAttempts bounds one refresh round (about two hours with the
	// default base); after that the fetcher waits for the next scheduled
	// day instead of hammering a feed that is down.
	maxAttempts = 8
	// maxFeedBytes is far above the ~1.6 kB daily feed but stops a
	// misconfigured URL (a history file, an HTML page) from being read
	// without bound.
	maxFeedBytes = 1 << 20
	// The ECB publishes around 16:00 CET; half an hour later is safely after.
	refreshHour, refreshMinute = 16, 30
	// scheduleJitter spreads many instances' daily request over a few
	// minutes rather than all at 16:30:00.
	scheduleJitter = 5 * time.Minute
)

// FetcherOptions configures a Fetcher. The zero value is usable.
type FetcherOptions struct {
	// URL of the daily feed. Default: DefaultURL.
	URL string
	// CacheDir holds CacheFile, the last good history. Empty: no cache.
	CacheDir string
	// Client for the feed. Default: an http.Client with DefaultTimeout.
	Client *http.Client
	// Logger receives refresh results and failures. Nil: no logs.
	Logger *zap.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Overrides map a currency code to USD per unit (decimal text), for
	// currencies the feed does not carry. See NewBook.
	Overrides map[string]string
	// RetryBase is the first delay after a failed refresh; each further
	// failure doubles it (up to an hour), with full jitter.
	// Default: DefaultRetryBase.
	RetryBase time.Duration
}

// Fetcher keeps a Book of daily ECB rates up to date in the background.
//
// NewFetcher does no I/O, so it is safe in a Caddy Provision that
// `caddy validate` runs without starting anything; until Start its Book
// holds the embedded snapshot. Start loads the disk cache (if any) and then
// refreshes from the network at once and every working day after
// publication, retrying failures with exponential backoff. A failed or
// malformed fetch never replaces good rates.
type Fetcher struct {
	url       string
	cachePath string
	client    *http.Client
	log       *zap.Logger
	now       func() time.Time
	retryBase time.Duration
	loc       *time.Location

	book atomic.Pointer[Book]

	// mu serialises every rebuild of the Book (refresh, overrides, cache
	// load) so concurrent ones cannot lose each other's history, and keeps
	// the cache file in the same order as the Books.
	mu           sync.Mutex
	overrides    map[string]string
	snapshotOnly bool // the history is just the embedded snapshot
	cacheLoaded  bool

	runMu  sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewFetcher checks the options and returns a Fetcher whose Book holds the
// embedded snapshot and the overrides. It touches neither the network nor
// the disk.
func NewFetcher(opts FetcherOptions) (*Fetcher, error) {
	f := &Fetcher{
		url:       opts.URL,
		client:    opts.Client,
		log:       opts.Logger,
		now:       opts.Now,
		retryBase: opts.RetryBase,
		loc:       berlin(),
	}
	if f.url == "" {
		f.url = DefaultURL
	}
	if err := httpcheck.URL(f.url); err != nil {
		return nil, fmt.Errorf("rates feed URL %q: %w", httpcheck.Redact(f.url), err)
	}
	if opts.CacheDir != "" {
		f.cachePath = filepath.Join(opts.CacheDir, CacheFile)
	}
	if f.client == nil {
		f.client = &http.Client{Timeout: DefaultTimeout}
	}
	if f.log == nil {
		f.log = zap.NewNop()
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.retryBase <= 0 {
		f.retryBase = DefaultRetryBase
	}
	snap, err := Snapshot()
	if err != nil {
		return nil, fmt.Errorf("embedded rates snapshot: %w", err)
	}
	b, err := NewBook([]*Rates{snap}, opts.Overrides)
	if err != nil {
		return nil, err
	}
	f.overrides = copyOverrides(opts.Overrides)
	f.snapshotOnly = true
	f.book.Store(b)
	return f, nil
}

// Book returns the current rates. It never returns nil and is safe to call
// from any goroutine; the Book it returns never changes.
func (f *Fetcher) Book() *Book {
	return f.book.Load()
}

// SetOverrides replaces the static overrides (a config reload may change
// them). Invalid overrides are an error and leave the current ones in place.
func (f *Fetcher) SetOverrides(overrides map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := NewBook(f.book.Load().history, overrides)
	if err != nil {
		return err
	}
	f.overrides = copyOverrides(overrides)
	f.book.Store(b)
	return nil
}

func copyOverrides(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Start loads the cache (synchronously, so the Book is as good as it will
// get without the network when Start returns) and starts the background
// refresh on a context the Fetcher owns. Starting a running Fetcher does
// nothing; a stopped one may be started again.
func (f *Fetcher) Start() {
	f.runMu.Lock()
	defer f.runMu.Unlock()
	if f.cancel != nil {
		return
	}
	f.loadCache()
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	go f.run(ctx, f.done)
}

// Stop cancels the background refresh, including a request in flight, and
// waits for it to finish. Stopping a Fetcher that is not running does
// nothing.
func (f *Fetcher) Stop() {
	f.runMu.Lock()
	cancel, done := f.cancel, f.done
	f.cancel, f.done = nil, nil
	f.runMu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// loadCache replaces the embedded snapshot with the cached history, once.
// Anything the Fetcher fetched before Start is kept and wins over the
// cache for the same date.
func (f *Fetcher) loadCache() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cacheLoaded {
		return
	}
	f.cacheLoaded = true
	current := f.book.Load()
	if f.cachePath == "" {
		f.log.Info("no rates cache configured; until the first fetch, using the embedded snapshot",
			zap.String("rates_date", current.Latest()))
		return
	}
	history, err := readCache(f.cachePath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			f.log.Info("no rates cache yet; until the first fetch, using the embedded snapshot",
				zap.String("cache", f.cachePath), zap.String("rates_date", current.Latest()))
		} else {
			f.log.Warn("ignoring unreadable rates cache; until the first fetch, using the embedded snapshot",
				zap.String("cache", f.cachePath), zap.String("rates_date", current.Latest()), zap.Error(err))
		}
		return
	}
	if !f.snapshotOnly {
		history = append(history, current.history...)
	}
	b, err := NewBook(history, f.overrides)
	if err != nil {
		f.log.Warn("ignoring rates cache", zap.String("cache", f.cachePath), zap.Error(err))
		return
	}
	f.book.Store(b)
	f.snapshotOnly = false
	f.log.Info("loaded rates cache", zap.String("cache", f.cachePath), zap.String("rates_date", b.Latest()))
}

// Refresh fetches the feed once and, if it is good, merges it into the
// history, swaps the Book and writes the cache. It makes no retries; the
// background loop does. Tests call it to refresh synchronously.
func (f *Fetcher) Refresh(ctx context.Context) error {
	rates, err := f.fetch(ctx)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	current := f.book.Load()
	history := []*Rates{rates}
	if !f.snapshotOnly {
		// The fetched day goes last so it replaces a cached copy of itself
		// (the ECB occasionally corrects a publication).
		history = append(append([]*Rates(nil), current.history...), rates)
	}
	b, err := NewBook(history, f.overrides)
	if err != nil {
		return err
	}
	f.book.Store(b)
	f.snapshotOnly = false
	if current.Latest() != b.Latest() {
		f.log.Info("exchange rates updated",
			zap.String("rates_date", b.Latest()), zap.String("previous", current.Latest()))
	} else {
		f.log.Debug("exchange rates unchanged", zap.String("rates_date", b.Latest()))
	}
	if f.cachePath != "" {
		if err := writeCache(f.cachePath, f.url, b.history, f.now()); err != nil {
			// The new rates are in use; only a restart without network
			// would miss them, so this is worth a warning, not a failure.
			f.log.Warn("could not write rates cache", zap.String("cache", f.cachePath), zap.Error(err))
		}
	}
	return nil
}

// fetch downloads and parses the feed.
func (f *Fetcher) fetch(ctx context.Context) (*Rates, error) {
	// Belt and braces: a caller-supplied Client may have no timeout.
	ctx, cancel := context.WithTimeout(ctx, 2*DefaultTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return nil, fmt.Errorf("rates feed %s: %w", httpcheck.Redact(f.url), err)
	}
	req.Header.Set("Accept", "application/xml, text/xml")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rates feed: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("rates feed %s: status %s", httpcheck.Redact(f.url), resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFeedBytes+1))
	if err != nil {
		return nil, fmt.Errorf("rates feed %s: %w", httpcheck.Redact(f.url), err)
	}
	if len(body) > maxFeedBytes {
		return nil, fmt.Errorf("rates feed %s: larger than %d bytes", httpcheck.Redact(f.url), maxFeedBytes)
	}
	rates, err := ParseECB(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("rates feed %s: %w", httpcheck.Redact(f.url), err)
	}
	// The ECB dates a publication by its own (CET) day, which is never
	// after tomorrow in UTC; a later date is a broken mirror or clock and
	// would otherwise pin "latest" in the future.
	if limit := f.now().UTC().AddDate(0, 0, 1).Format(dateLayout); rates.Date > limit {
		return nil, fmt.Errorf("rates feed %s: dated %s, in the future", httpcheck.Redact(f.url), rates.Date)
	}
	return rates, nil
}

// run is the background loop: refresh now, then every working day after
// publication.
func (f *Fetcher) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	f.refreshRound(ctx, "")
	for {
		next := nextRefresh(f.now(), f.loc)
		wait := next.Sub(f.now()) + rand.N(scheduleJitter)
		f.log.Debug("next exchange-rate refresh", zap.Time("at", next))
		if !sleep(ctx, wait) {
			return
		}
		f.refreshRound(ctx, next.Format(dateLayout))
	}
}

// refreshRound refreshes until it succeeds, giving up after maxAttempts.
// With want set (the Berlin date of a scheduled run), a feed that is still
// on an earlier day counts as "not published yet" and is retried too: the
// ECB is sometimes late, and on TARGET holidays it publishes nothing, which
// the attempt limit absorbs.
func (f *Fetcher) refreshRound(ctx context.Context, want string) {
	delay := f.retryBase
	for attempt := 1; ; attempt++ {
		err := f.Refresh(ctx)
		if ctx.Err() != nil {
			return
		}
		latest := f.Book().Latest()
		if err == nil && (want == "" || latest >= want) {
			return
		}
		if attempt >= maxAttempts {
			if err != nil {
				f.log.Error("giving up on exchange rates until the next scheduled refresh",
					zap.String("rates_date", latest), zap.Int("attempts", attempt), zap.Error(err))
			} else {
				f.log.Info("no new exchange rates published today (holiday?)",
					zap.String("rates_date", latest), zap.String("wanted", want))
			}
			return
		}
		if err != nil {
			f.log.Warn("exchange-rate refresh failed; keeping the last good rates",
				zap.String("rates_date", latest), zap.Int("attempt", attempt), zap.Error(err))
		}
		// Full jitter, as for deliveries: many instances retrying a feed
		// that just came back should not arrive together.
		if !sleep(ctx, rand.N(delay)+1) {
			return
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

// sleep waits for d or until ctx is done, and reports whether it was the
// former.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// nextRefresh returns the next working-day 16:30 in loc strictly after now.
// Computing in loc keeps 16:30 wall-clock time across daylight saving.
func nextRefresh(now time.Time, loc *time.Location) time.Time {
	t := now.In(loc)
	next := time.Date(t.Year(), t.Month(), t.Day(), refreshHour, refreshMinute, 0, 0, loc)
	if !next.After(t) {
		next = next.AddDate(0, 0, 1)
	}
	for next.Weekday() == time.Saturday || next.Weekday() == time.Sunday {
		next = next.AddDate(0, 0, 1)
	}
	return next
}

// berlin is the ECB's time zone. Without tzdata on the host it falls back
// to CET all year: in summer that schedules 17:30 CEST, still after
// publication, which is why the binary need not embed time/tzdata.
func berlin() *time.Location {
	if loc, err := time.LoadLocation("Europe/Berlin"); err == nil {
		return loc
	}
	return time.FixedZone("CET", 60*60)
}
