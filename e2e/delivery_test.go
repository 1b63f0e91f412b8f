package e2e

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// A visitor lands from a tracked link, then checks out with the cookie the
// browser got back: the platform receives the sale with that clickId and
// the exact payload and headers.
func TestClickThenCheckout(t *testing.T) {
	dir := t.TempDir()
	plat := newPlatform(t)
	admin, port := fake.FreePort(), fake.FreePort()
	startCaddy(t, dir, admin, config(admin, port, startShop(t), endpoint(plat), filepath.Join(dir, "st"), ""))

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(fmt.Sprintf("http://127.0.0.1:%d/?utm_source=x&clickId=cl_abc123", port))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Header.Values("Set-Cookie")
	if len(cookies) != 2 {
		t.Fatalf("Set-Cookie = %q, want the shop's session cookie and clickId", cookies)
	}
	if status, err := post(browser, fmt.Sprintf("http://127.0.0.1:%d/checkout/inv_click_1", port)); err != nil || status != 200 {
		t.Fatalf("checkout: %d %v", status, err)
	}
	plat.WaitInvoices(t, "inv_click_1")
	ev := plat.Accepted()[0]
	want := `,"customerExternalId":"user_123","email":"alex@example.com","name":"Alex Johnson","currency":"USD","amount":199.0,"invoiceId":"inv_click_1","clickId":"cl_abc123"}`
	if !strings.HasPrefix(ev.Body, `{"event":"sale","timestamp":"`) || !strings.HasSuffix(ev.Body, want) {
		t.Fatalf("platform got %s", ev.Body)
	}
	if ev.Header.Get("Authorization") != "Bearer e2e-secret-key" || ev.Header.Get("Content-Type") != "application/json" || ev.IdempotencyKey() == "" {
		t.Fatalf("headers: %v", ev.Header)
	}

	// The newest click wins: a checkout that itself carries a newer clickId
	// than the cookie the browser still sends is attributed to the newer one.
	if _, err := post(browser, fmt.Sprintf("http://127.0.0.1:%d/checkout/inv_click_2?clickId=cl_newer", port)); err != nil {
		t.Fatal(err)
	}
	plat.WaitInvoices(t, "inv_click_2")
	for _, ev := range plat.Accepted() {
		if ev.InvoiceID == "inv_click_2" && !strings.Contains(ev.Body, `"clickId":"cl_newer"`) {
			t.Fatalf("inv_click_2 attributed to another click than the newer cl_newer: %s", ev.Body)
		}
	}
}

// Sales keep coming while the config is reloaded again and again: every
// sale arrives exactly once and one delivery worker ran throughout.
func TestReloadUnderTraffic(t *testing.T) {
	dir := t.TempDir()
	plat := newPlatform(t)
	admin, port := fake.FreePort(), fake.FreePort()
	shop, storage := startShop(t), filepath.Join(dir, "st")
	proc := startCaddy(t, dir, admin, config(admin, port, shop, endpoint(plat), storage, ""))

	const clients, perClient = 4, 60
	var wg sync.WaitGroup
	var failures atomic.Int32
	var mu sync.Mutex
	var sent []string
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; i < perClient; i++ {
				id := fmt.Sprintf("inv_reload_%d_%d", c, i)
				if status, err := post(client, fmt.Sprintf("http://127.0.0.1:%d/checkout/%s", port, id)); err != nil || status != 200 {
					failures.Add(1)
					continue
				}
				mu.Lock()
				sent = append(sent, id)
				mu.Unlock()
			}
		}(c)
	}
	for i := 0; i < 5; i++ {
		time.Sleep(50 * time.Millisecond)
		proc.reload(config(admin, port, shop, endpoint(plat), storage, fmt.Sprintf("concurrency %d", 2+i)))
	}
	wg.Wait()
	if len(sent) < clients*perClient/2 {
		t.Fatalf("only %d checkouts succeeded (%d failed)", len(sent), failures.Load())
	}
	plat.WaitInvoices(t, sent...)
	time.Sleep(300 * time.Millisecond) // anything sent twice would arrive now
	counts := plat.Invoices()
	for _, id := range sent {
		if counts[id] != 1 {
			t.Errorf("%s arrived %d times", id, counts[id])
		}
	}
	if len(counts) != len(sent) {
		t.Errorf("platform got %d invoices, %d were sent", len(counts), len(sent))
	}
	if n := strings.Count(proc.logs.String(), `"sale delivery started"`); n != 1 {
		t.Errorf("the delivery was started %d times, want once across all reloads", n)
	}
	if logs := proc.logs.String(); strings.Contains(logs, "e2e-secret-key") || strings.Contains(logs, "alex@example.com") {
		t.Error("the api_key or a customer's email reached Caddy's logs")
	}
}

// SIGKILL while sends hang at the platform: after a restart every
// committed sale arrives; a resend carries the same Idempotency-Key.
func TestKillDuringDelivery(t *testing.T) {
	dir := t.TempDir()
	plat := newPlatform(t)
	plat.Hang() // the sends are in flight when the process dies
	admin, port := fake.FreePort(), fake.FreePort()
	shop, storage := startShop(t), filepath.Join(dir, "st")
	cfg := config(admin, port, shop, endpoint(plat), storage, "")
	proc := startCaddy(t, dir, admin, cfg)

	ids := checkoutMany(t, port, "inv_kill", 20)
	plat.WaitRequests(t, 1)
	// The guarantee is for committed sales: the response is flushed to the
	// client just before the commit, so wait until the outbox has all 20.
	waitEnqueued(t, proc, len(ids))
	proc.kill()

	plat.Accept()
	startCaddy(t, dir, admin, cfg)
	plat.WaitInvoices(t, ids...)
	// Every attempt at a sale, those the kill cut short included, carries
	// the same key.
	for _, id := range ids {
		if keys := plat.Keys(id); slices.ContainsFunc(keys, func(k string) bool { return k != keys[0] }) {
			t.Errorf("%s resent with a new Idempotency-Key: %v", id, keys)
		}
	}
}

// The platform is down (connection refused) while sales come in; when it
// returns, every sale arrives exactly once.
func TestPlatformOutageThenRecovery(t *testing.T) {
	dir := t.TempDir()
	plat := newPlatform(t)
	plat.Down()
	admin, port := fake.FreePort(), fake.FreePort()
	proc := startCaddy(t, dir, admin, config(admin, port, startShop(t), endpoint(plat), filepath.Join(dir, "st"), ""))

	ids := checkoutMany(t, port, "inv_outage", 50)
	// A browser's sale is committed just after its response.
	waitEnqueued(t, proc, len(ids))
	var stats []struct {
		Queued int64 `json:"queued"`
	}
	proc.adminJSON(http.MethodGet, "/sale_track/stats", &stats)
	if len(stats) != 1 || stats[0].Queued == 0 {
		t.Fatalf("stats during the outage: %+v, want sales queued", stats)
	}

	if err := plat.Up(); err != nil {
		t.Fatal(err)
	}
	proc.adminJSON(http.MethodPost, "/sale_track/flush", nil)
	plat.WaitInvoices(t, ids...)
	time.Sleep(300 * time.Millisecond) // anything sent twice would arrive now
	counts := plat.Invoices()
	for _, id := range ids {
		if counts[id] != 1 {
			t.Errorf("%s arrived %d times", id, counts[id])
		}
	}
}

// SIGTERM: Caddy stops within the shutdown timeout and what was not sent
// is sent after the next start.
func TestGracefulStopKeepsUnsent(t *testing.T) {
	dir := t.TempDir()
	plat := newPlatform(t)
	plat.Down()
	admin, port := fake.FreePort(), fake.FreePort()
	shop, storage := startShop(t), filepath.Join(dir, "st")
	cfg := config(admin, port, shop, endpoint(plat), storage, "shutdown_timeout 1s")
	proc := startCaddy(t, dir, admin, cfg)
	ids := checkoutMany(t, port, "inv_term", 10)
	waitEnqueued(t, proc, len(ids))
	proc.stop(15 * time.Second)

	if err := plat.Up(); err != nil {
		t.Fatal(err)
	}
	startCaddy(t, dir, admin, cfg)
	plat.WaitInvoices(t, ids...)
}

// A corrupt outbox file is renamed aside, never deleted; Caddy starts with
// a fresh one and keeps capturing.
func TestCorruptOutboxIsSetAside(t *testing.T) {
	dir := t.TempDir()
	storage := filepath.Join(dir, "st")
	os.MkdirAll(storage, 0o700)
	garbage := []byte(strings.Repeat("this is not a bbolt file ", 400))
	if err := os.WriteFile(filepath.Join(storage, "outbox.db"), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	plat := newPlatform(t)
	admin, port := fake.FreePort(), fake.FreePort()
	proc := startCaddy(t, dir, admin, config(admin, port, startShop(t), endpoint(plat), storage, ""))
	if _, err := post(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/checkout/inv_after_corrupt", port)); err != nil {
		t.Fatal(err)
	}
	plat.WaitInvoices(t, "inv_after_corrupt")
	aside, _ := filepath.Glob(filepath.Join(storage, "outbox.db.corrupt-*"))
	if len(aside) != 1 {
		t.Fatalf("renamed files: %v", aside)
	}
	if data, _ := os.ReadFile(aside[0]); string(data) != string(garbage) {
		t.Fatal("the corrupt file's content was not kept")
	}
	if !strings.Contains(proc.logs.String(), aside[0]) {
		t.Fatal("no log line says where the corrupt file went")
	}
}

// waitEnqueued waits until the outbox reports n sales committed.
func waitEnqueued(t *testing.T, proc *caddyProc, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var stats []struct {
			Enqueued int `json:"enqueued"`
		}
		proc.adminJSON(http.MethodGet, "/sale_track/stats", &stats)
		if len(stats) == 1 && stats[0].Enqueued >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox stats %+v, want %d committed", stats, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
