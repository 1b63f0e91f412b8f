package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// chromium is Debian's Chromium, which .ci/run installs when it is missing.
const chromium = "/usr/bin/chromium"

// browser starts a headless Chromium with a fresh profile and returns a
// tab's context; the test is skipped when no Chromium is installed.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromium
	if _, err := os.Stat(path); err != nil {
		if path, err = exec.LookPath("chromium"); err != nil {
			t.Skip("no Chromium at " + chromium + " or on PATH: install Debian's chromium (apt-get install -y chromium; .ci/run does) to run the status page's browser test")
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 1000),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	// The first run starts the browser, and lives as long as its context:
	// only the actions after it get a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// pageText is the visible text of the first element sel matches.
func pageText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	return strings.TrimSpace(text)
}

// startStatusCommand runs `caddy sale-track status` for the admin endpoint
// on adminPort and returns the origin it serves the page on.
func startStatusCommand(t *testing.T, adminPort int) string {
	t.Helper()
	listen := fmt.Sprintf("127.0.0.1:%d", fake.FreePort())
	cmd := exec.Command(caddyBin, "sale-track", "status", "--address", fmt.Sprintf("127.0.0.1:%d", adminPort), "--listen", listen)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	origin := "http://" + listen
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), origin+"/sale_track/") {
		if time.Now().After(deadline) {
			t.Fatalf("caddy sale-track status did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return origin
}

// waitQueueEmpty waits until no sale is queued or being sent.
func (p *caddyProc) waitQueueEmpty() {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var stats []struct {
			Queued   int64 `json:"queued"`
			InFlight int64 `json:"in_flight"`
		}
		p.adminJSON(http.MethodGet, "/sale_track/stats", &stats)
		if len(stats) == 1 && stats[0].Queued == 0 && stats[0].InFlight == 0 {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the queue never emptied: %+v", stats)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitOutcomes waits until the live log holds each "outcome invoice_id".
func (p *caddyProc) waitOutcomes(want ...string) {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var log struct {
			Recent []outcome `json:"recent"`
		}
		p.adminJSON(http.MethodGet, "/sale_track/recent", &log)
		seen := map[string]bool{}
		for _, e := range log.Recent {
			seen[e.Outcome+" "+e.InvoiceID] = true
		}
		missing := slices.DeleteFunc(slices.Clone(want), func(w string) bool { return seen[w] })
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the live log never showed %v", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The status page, in a real browser, shows the figures of a few captures
// through the real binary, served by `caddy sale-track status`, and its
// replay button delivers a dead letter through the admin API.
func TestStatusPageInBrowser(t *testing.T) {
	ctx := browser(t)
	dir := t.TempDir()
	plat := newPlatform(t)
	plat.Script(func(r fake.Request) fake.Reply {
		if r.InvoiceID == "inv_page_dead" {
			return fake.Reply{Status: http.StatusUnprocessableEntity, Body: `{"error":"unknown customer"}`}
		}
		return fake.Reply{Status: http.StatusCreated}
	})
	admin, port := fake.FreePort(), fake.FreePort()
	proc := startCaddy(t, dir, admin, config(admin, port, startShop(t), endpoint(plat), filepath.Join(dir, "st"), ""))
	for _, path := range []string{"inv_page_1", "inv_page_2", "pending/inv_page_3", "inv_page_dead"} {
		if status, err := post(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/checkout/%s", port, path)); err != nil || status != 200 {
			t.Fatalf("checkout %s: %d %v", path, status, err)
		}
	}
	plat.WaitInvoices(t, "inv_page_1", "inv_page_2")
	proc.waitDeadLetters()
	// The platform has the sales before the outbox lets them go, and the
	// live log hears of a delivery or a dead letter once the outbox has
	// it: the page is read once both are done.
	proc.waitQueueEmpty()
	proc.waitOutcomes("delivered inv_page_1", "delivered inv_page_2", "dead inv_page_dead")

	// Opened straight from the admin endpoint, the page is refused: Caddy
	// checks the origin of browser requests, and a typed address has none.
	if err := chromedp.Do(ctx, chromedp.Navigate(proc.adminURL("/sale_track/"))); err != nil {
		t.Fatal(err)
	}
	if body := pageText(t, ctx, "body"); !strings.Contains(body, "not allowed to access from origin") {
		t.Fatalf("the admin endpoint served the page to a browser: the status command's reason is gone:\n%s", body)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(startStatusCommand(t, admin)+"/sale_track/")); err != nil {
		t.Fatal(err)
	}
	sale := `#routes tr[data-route="default"][data-kind="sale"] `
	// Three sales of 199.00 USD were captured (one of them will die); the
	// pending order was no sale.
	for _, c := range []struct{ name, sel, want string }{
		{"revenue today", "#revenue-today", "597.00 USD"},
		{"sales today", sale + "td.today", "3"},
		{"sales in the last hour", sale + "td.hour", "3"},
		{"the route's revenue today", sale + "td.revenue-today", "597.00 USD"},
		{"dead letters", "#dead-total", "1"},
		{"queued", "#queued", "0"},
	} {
		if got := pageText(t, ctx, c.sel); got != c.want {
			t.Errorf("%s: the page shows %q, want %q", c.name, got, c.want)
		}
	}
	// The rates are the embedded snapshot: the feed is unreachable.
	if rates := pageText(t, ctx, "#rates"); !strings.Contains(rates, "2024-06-28") || !strings.Contains(rates, "stale") {
		t.Errorf("exchange rates: %q, want the snapshot's date, stale", rates)
	}
	if outcomes := pageText(t, ctx, "#outcomes"); !strings.Contains(outcomes, "not_sale\tcondition\t1") || !strings.Contains(outcomes, "dead\tpermanent\t1") {
		t.Errorf("outcomes table lacks the not_sale and the dead letter with their reasons:\n%s", outcomes)
	}

	plat.Accept()
	err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button.replay[data-invoice="inv_page_dead"]`)),
		// The page reloads once the live log shows the delivery.
		chromedp.WaitVisible(chromedp.CSS(`#recent tr[data-outcome="delivered"][data-invoice="inv_page_dead"]`)),
	)
	if err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#replay-status")))
		t.Fatalf("replay from the page: %v (status line: %q)", err, status)
	}
	if got := pageText(t, ctx, "#dead-total"); got != "0" {
		t.Errorf("dead letters after the replay: %q, want 0", got)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	plat.WaitInvoices(t, "inv_page_dead")
	path := filepath.Join(t.ArtifactDir(), "status-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
