package fx

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// feedServer is a fake ECB: it serves whatever the test last set, counts
// requests, and can fail a number of times first or hang until cancelled.
type feedServer struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	body   string
	fails  int  // answer 503 this many more times
	hang   bool // wait for the client to give up
	hits   atomic.Int32
}

func newFeedServer(t *testing.T, body string) *feedServer {
	t.Helper()
	s := &feedServer{status: http.StatusOK, body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		status, body, hang := s.status, s.body, s.hang
		if s.fails > 0 {
			s.fails--
			status = http.StatusServiceUnavailable
		}
		s.mu.Unlock()
		if hang {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *feedServer) serve(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// unreachableURL is a URL nothing listens on any more.
func unreachableURL(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	u := s.URL
	s.Close()
	return u
}

// clock is a settable time source, safe for the fetcher's goroutine.
type clock struct{ ns atomic.Int64 }

func newClock(s string) *clock {
	c := &clock{}
	c.ns.Store(at(s).UnixNano())
	return c
}

func (c *clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

func testFetcher(t *testing.T, url, dir string, now *clock) (*Fetcher, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	f, err := NewFetcher(FetcherOptions{
		URL:       url,
		CacheDir:  dir,
		Logger:    zap.New(core),
		Now:       now.Now,
		RetryBase: time.Millisecond,
		Client:    &http.Client{Timeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	return f, logs
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func hasLog(logs *observer.ObservedLogs, level zapcore.Level, msgPart string) bool {
	for _, e := range logs.All() {
		if e.Level == level && strings.Contains(e.Message, msgPart) {
			return true
		}
	}
	return false
}

// July 2024 days for the fake feed (synthetic rates on the real layout).
var (
	monday  = feedXML("2024-07-01", setRate("USD", "1.0720"))
	tuesday = feedXML("2024-07-02", setRate("USD", "1.0740"))
)

// NewFetcher is what Caddy's Provision (and `caddy validate`) runs: no
// network, no disk, and the embedded snapshot ready to use.
func TestNewFetcherDoesNoIO(t *testing.T) {
	srv := newFeedServer(t, monday)
	dir := filepath.Join(t.TempDir(), "not-yet")
	f, _ := testFetcher(t, srv.URL, dir, newClock("2024-07-01T15:00:00Z"))
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("%d requests before Start", n)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cache dir touched before Start: %v", err)
	}
	if got := f.Book().Latest(); got != "2024-06-28" {
		t.Errorf("Latest() = %q before Start, want the snapshot's 2024-06-28", got)
	}
}

func TestNewFetcherRejects(t *testing.T) {
	for name, o := range map[string]FetcherOptions{
		"relative URL":    {URL: "/eurofxref-daily.xml"},
		"ftp URL":         {URL: "ftp://example.com/feed.xml"},
		"bad override":    {Overrides: map[string]string{"KWD": "three"}},
		"unknown code":    {Overrides: map[string]string{"XYZ": "1"}},
		"override of USD": {Overrides: map[string]string{"USD": "1"}},
	} {
		if _, err := NewFetcher(o); err == nil {
			t.Errorf("%s: NewFetcher succeeded, want an error", name)
		}
	}
}

func TestRefresh(t *testing.T) {
	srv := newFeedServer(t, monday)
	dir := t.TempDir()
	f, logs := testFetcher(t, srv.URL, dir, newClock("2024-07-01T15:00:00Z"))
	if err := f.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := f.Book()
	// The snapshot is only a fallback: the first good fetch replaces it.
	if b.Latest() != "2024-07-01" || len(b.history) != 1 {
		t.Fatalf("after refresh: latest %s, %d days; want 2024-07-01 alone", b.Latest(), len(b.history))
	}
	// 100.00 × 1.0720 = 107.20
	c, err := b.ToUSD(amount(t, "100.00", "EUR"), at("2024-07-01T18:00:00Z"), 0)
	if err != nil || c.USD.Number() != "107.20" || c.Date != "2024-07-01" {
		t.Errorf("EUR 100 = %+v, %v; want 107.20 from 2024-07-01", c, err)
	}
	if !hasLog(logs, zapcore.InfoLevel, "exchange rates updated") {
		t.Error("no log for the update")
	}

	srv.serve(http.StatusOK, tuesday)
	f.now = newClock("2024-07-02T15:00:00Z").Now
	if err := f.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	history, err := readCache(filepath.Join(dir, CacheFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(history) != 2 || history[0].Date != "2024-07-01" || history[1].Date != "2024-07-02" {
		t.Fatalf("cache holds %d days, want Monday and Tuesday", len(history))
	}
	if got := plainText(history[1].PerEUR["USD"]); got != "1.0740" {
		t.Errorf("cached Tuesday USD = %s, want 1.0740", got)
	}
}

// A malformed, partial or failed fetch is an error and changes nothing:
// not the Book, not the cache.
func TestRefreshKeepsLastGoodRates(t *testing.T) {
	srv := newFeedServer(t, monday)
	dir := t.TempDir()
	f, _ := testFetcher(t, srv.URL, dir, newClock("2024-07-01T15:00:00Z"))
	if err := f.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	good := f.Book()
	cachePath := filepath.Join(dir, CacheFile)
	cached, err := os.ReadFile(cachePath)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, body, wantErr string
		status              int
	}{
		{"server error", "oops", "status 500", http.StatusInternalServerError},
		{"not found", "", "status 404", http.StatusNotFound},
		{"HTML page", "<html><body>maintenance</body></html>", "not a gesmes:Envelope", http.StatusOK},
		{"truncated", tuesday[:len(tuesday)-200], "not a gesmes:Envelope", http.StatusOK},
		{"partial", feedXML("2024-07-02", func(r [][2]string) [][2]string { return r[:5] }), "only 5 currencies", http.StatusOK},
		{"no USD", feedXML("2024-07-02", dropRate("USD")), "no USD rate", http.StatusOK},
		{"bad rate", feedXML("2024-07-02", setRate("JPY", "-1")), "not a positive decimal", http.StatusOK},
		{"dated in the future", feedXML("2024-07-09", nil), "in the future", http.StatusOK},
		{"too large", strings.Repeat(" ", maxFeedBytes+1), "larger than", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.serve(tt.status, tt.body)
			err := f.Refresh(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Refresh() = %v, want an error containing %q", err, tt.wantErr)
			}
			if f.Book() != good {
				t.Error("the Book changed")
			}
			if now, _ := os.ReadFile(cachePath); string(now) != string(cached) {
				t.Error("the cache changed")
			}
		})
	}
}

func TestRefreshUnreachable(t *testing.T) {
	f, _ := testFetcher(t, unreachableURL(t), t.TempDir(), newClock("2024-07-01T15:00:00Z"))
	if err := f.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh of an unreachable feed succeeded")
	}
	if f.Book().Latest() != "2024-06-28" {
		t.Errorf("Latest() = %s, want the snapshot kept", f.Book().Latest())
	}
}

// Feed unreachable at start: the cache is loaded before Start returns.
func TestStartUsesCacheWhenFeedUnreachable(t *testing.T) {
	dir := t.TempDir()
	var history []*Rates
	for _, doc := range []string{monday, tuesday} {
		r, err := ParseECB(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		history = append(history, r)
	}
	if err := writeCache(filepath.Join(dir, CacheFile), DefaultURL, history, at("2024-07-02T15:00:00Z")); err != nil {
		t.Fatal(err)
	}
	f, logs := testFetcher(t, unreachableURL(t), dir, newClock("2024-07-03T09:00:00Z"))
	f.Start()
	if got := f.Book().Latest(); got != "2024-07-02" {
		t.Fatalf("Latest() = %q right after Start, want the cached 2024-07-02", got)
	}
	if !hasLog(logs, zapcore.InfoLevel, "loaded rates cache") {
		t.Error("no log for the cache")
	}
	// The failed fetches are retried, logged, and then given up on until
	// the next scheduled day; the cached rates stay in use throughout.
	eventually(t, "the retries to give up", func() bool { return hasLog(logs, zapcore.ErrorLevel, "giving up") })
	if n := logs.FilterMessageSnippet("refresh failed").Len(); n != maxAttempts-1 {
		t.Errorf("%d warnings for failed attempts, want %d", n, maxAttempts-1)
	}
	f.Stop()
	if got := f.Book().Latest(); got != "2024-07-02" {
		t.Errorf("Latest() = %q after failures, want the cached 2024-07-02", got)
	}
	// Monday sale, Tuesday clock: Monday's cached rate, 100.00 × 1.0720.
	c, err := f.Book().ToUSD(amount(t, "100.00", "EUR"), at("2024-07-01T12:00:00Z"), 0)
	if err != nil || c.USD.Number() != "107.20" || c.Date != "2024-07-01" {
		t.Errorf("Monday sale = %+v, %v; want 107.20 from the cached Monday", c, err)
	}
}

// No network and no cache: the embedded snapshot is the last fallback.
func TestStartUsesSnapshotWithoutCache(t *testing.T) {
	f, logs := testFetcher(t, unreachableURL(t), t.TempDir(), newClock("2024-07-03T09:00:00Z"))
	f.Start()
	defer f.Stop()
	if got := f.Book().Latest(); got != "2024-06-28" {
		t.Fatalf("Latest() = %q, want the snapshot's 2024-06-28", got)
	}
	if !hasLog(logs, zapcore.InfoLevel, "using the embedded snapshot") {
		t.Error("no log saying the snapshot is in use")
	}
	// Snapshot rates are real but old: a sale today converts, flagged.
	// 1999 × 1.0705 ÷ 171.94 = 12.4457… → 12.45
	c, err := f.Book().ToUSD(amount(t, "1999", "JPY"), at("2024-07-10T09:00:00Z"), 0)
	if err != nil || c.USD.Number() != "12.45" || !c.Stale {
		t.Errorf("JPY 1999 = %+v, %v; want 12.45 flagged stale", c, err)
	}
}

func TestStartIgnoresCorruptCache(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, CacheFile), []byte(`{"version":1,"history":[{"date":"2024-07-01","rates":{"USD":"1.07"}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, logs := testFetcher(t, unreachableURL(t), dir, newClock("2024-07-03T09:00:00Z"))
	f.Start()
	defer f.Stop()
	if got := f.Book().Latest(); got != "2024-06-28" {
		t.Errorf("Latest() = %q, want the snapshot instead of a one-currency cache", got)
	}
	if !hasLog(logs, zapcore.WarnLevel, "ignoring unreadable rates cache") {
		t.Error("no warning about the cache")
	}
}

func TestStartRefreshesInBackground(t *testing.T) {
	srv := newFeedServer(t, monday)
	dir := t.TempDir()
	f, _ := testFetcher(t, srv.URL, dir, newClock("2024-07-01T15:00:00Z"))
	f.Start()
	f.Start() // a second Start is a no-op, not a second loop
	eventually(t, "the first refresh", func() bool { return f.Book().Latest() == "2024-07-01" })
	f.Stop()
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(dir, CacheFile)); err != nil {
		t.Errorf("no cache after a refresh: %v", err)
	}
	// A stopped Fetcher can start again (Caddy reloads do this).
	srv.serve(http.StatusOK, tuesday)
	f.now = newClock("2024-07-02T15:00:00Z").Now
	f.Start()
	eventually(t, "the refresh after restart", func() bool { return f.Book().Latest() == "2024-07-02" })
}

func TestStartRetriesWithBackoff(t *testing.T) {
	srv := newFeedServer(t, monday)
	srv.fails = 2
	f, logs := testFetcher(t, srv.URL, t.TempDir(), newClock("2024-07-01T15:00:00Z"))
	f.Start()
	eventually(t, "a refresh after two failures", func() bool { return f.Book().Latest() == "2024-07-01" })
	f.Stop()
	if n := srv.hits.Load(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if n := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("refresh failed").Len(); n != 2 {
		t.Errorf("%d warnings, want 2", n)
	}
}

// Stop cancels a request in flight and waits for the goroutine.
func TestStopCancelsInFlightRequest(t *testing.T) {
	srv := newFeedServer(t, monday)
	srv.hang = true
	f, _ := testFetcher(t, srv.URL, t.TempDir(), newClock("2024-07-01T15:00:00Z"))
	f.Start()
	eventually(t, "the request", func() bool { return srv.hits.Load() == 1 })
	stopped := make(chan struct{})
	go func() { f.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(3 * time.Second):
		t.Fatal("Stop did not return while a request hung")
	}
	time.Sleep(20 * time.Millisecond)
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("%d requests after Stop, want no retries", n)
	}
	f.Stop() // stopping twice is harmless
}

func TestSetOverrides(t *testing.T) {
	f, _ := testFetcher(t, unreachableURL(t), "", newClock("2024-07-01T15:00:00Z"))
	kwd := amount(t, "1.250", "KWD")
	sale := at("2024-06-28T12:00:00Z")
	if _, err := f.Book().ToUSD(kwd, sale, 0); !errors.Is(err, ErrNoRate) {
		t.Fatalf("KWD before overrides: %v, want ErrNoRate", err)
	}
	if err := f.SetOverrides(map[string]string{"KWD": "3.2607"}); err != nil {
		t.Fatal(err)
	}
	// 1.250 × 3.2607 = 4.0758750 → 4.08
	if c, err := f.Book().ToUSD(kwd, sale, 0); err != nil || c.USD.Number() != "4.08" {
		t.Fatalf("KWD with override = %+v, %v; want 4.08", c, err)
	}
	if err := f.SetOverrides(map[string]string{"KWD": "3,26"}); err == nil {
		t.Fatal("a bad override was accepted")
	}
	if c, err := f.Book().ToUSD(kwd, sale, 0); err != nil || c.USD.Number() != "4.08" {
		t.Errorf("after a rejected change: %+v, %v; want the previous override kept", c, err)
	}
	// Overrides survive a refresh.
	srv := newFeedServer(t, monday)
	f.url = srv.URL
	if err := f.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, err := f.Book().ToUSD(kwd, sale, 0); err != nil || c.Source != SourceOverride {
		t.Errorf("after a refresh: %+v, %v; want the override", c, err)
	}
}

// Readers, refreshes and override changes at once; run with -race.
func TestFetcherConcurrentUse(t *testing.T) {
	srv := newFeedServer(t, monday)
	f, _ := testFetcher(t, srv.URL, t.TempDir(), newClock("2024-07-01T15:00:00Z"))
	f.Start()
	defer f.Stop()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(3)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if _, err := f.Book().ToUSD(amount(t, "12.45", "GBP"), at("2024-07-01T12:00:00Z"), 0); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				if err := f.Refresh(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				if err := f.SetOverrides(map[string]string{"KWD": "3.26"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if f.Book().Latest() != "2024-07-01" {
		t.Errorf("Latest() = %s", f.Book().Latest())
	}
}

func TestNextRefresh(t *testing.T) {
	loc := berlin()
	tests := []struct{ now, want string }{
		// Summer (CEST, UTC+2): 16:30 Berlin is 14:30 UTC.
		{"2024-07-01T10:00:00Z", "2024-07-01T14:30:00Z"}, // Monday morning: today
		{"2024-07-01T14:30:00Z", "2024-07-02T14:30:00Z"}, // exactly at the time: tomorrow
		{"2024-07-01T15:00:00Z", "2024-07-02T14:30:00Z"}, // Monday evening: Tuesday
		{"2024-07-05T15:00:00Z", "2024-07-08T14:30:00Z"}, // Friday evening: Monday
		{"2024-07-06T09:00:00Z", "2024-07-08T14:30:00Z"}, // Saturday: Monday
		// Winter (CET, UTC+1): 16:30 Berlin is 15:30 UTC.
		{"2024-12-02T10:00:00Z", "2024-12-02T15:30:00Z"},
		// Across the switch to summer time (Sunday 2024-03-31).
		{"2024-03-29T16:00:00Z", "2024-04-01T14:30:00Z"},
	}
	for _, tt := range tests {
		if got := nextRefresh(at(tt.now), loc).UTC(); !got.Equal(at(tt.want)) {
			t.Errorf("nextRefresh(%s) = %s, want %s", tt.now, got.Format(time.RFC3339), tt.want)
		}
	}
}
