package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// outcome is one entry of the live capture log, as the admin API sends it.
type outcome struct {
	Time      time.Time `json:"time"`
	Route     string    `json:"route"`
	Kind      string    `json:"kind"`
	Outcome   string    `json:"outcome"`
	Reason    string    `json:"reason"`
	InvoiceID string    `json:"invoice_id"`
	EventID   string    `json:"event_id"`
	id        string
}

// sseStream reads GET /sale_track/recent?follow=1 event by event.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	events chan outcome
}

func followRecent(t *testing.T, p *caddyProc, query, lastID string) *sseStream {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.adminURL("/sale_track/recent?follow=1"+query), nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("follow: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{t: t, resp: resp, events: make(chan outcome, 100)}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var ev outcome
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil {
					t.Errorf("event data: %v: %s", err, line)
				}
			case line == "" && ev.Outcome != "":
				s.events <- ev
				ev = outcome{}
			}
		}
	}()
	return s
}

// next returns the next event other than a delivery.
func (s *sseStream) next() outcome {
	s.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatal("the stream ended")
			}
			if ev.Outcome != "delivered" {
				return ev
			}
		case <-timeout:
			s.t.Fatal("no event within 10s")
		}
	}
}

// ended waits for the stream to end.
func (s *sseStream) ended() bool {
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// Three requests with three outcomes arrive on the stream in order, with
// their reasons; GET /sale_track/recent lists them newest first; a client
// that reconnects after the first gets the other two; `caddy sale-track
// tail` prints them; a reload ends the stream, and tail follows again.
func TestRecentLogAndStream(t *testing.T) {
	dir := t.TempDir()
	plat := newPlatform(t)
	admin, port := fake.FreePort(), fake.FreePort()
	shop, storage := startShop(t), filepath.Join(dir, "st")
	proc := startCaddy(t, dir, admin, config(admin, port, shop, endpoint(plat), storage, "recent 50"))

	stream := followRecent(t, proc, "", "")
	requests := []struct{ path, outcome, reason string }{
		{"/checkout/inv_live_1", "captured", ""},
		{"/checkout/pending/inv_live_2", "not_sale", "condition not met: order.status paid"},
		{"/checkout/malformed/inv_live_3", "skipped", "malformed"},
	}
	var got []outcome
	for _, r := range requests {
		if _, err := post(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d%s", port, r.path)); err != nil {
			t.Fatal(err)
		}
		// Each outcome is awaited before the next request: a browser
		// sale is committed after its response, so two requests' outcomes
		// may otherwise land in either order.
		ev := stream.next()
		if ev.Outcome != r.outcome || !strings.Contains(ev.Reason, r.reason) || ev.Route != "default" || ev.Kind != "sale" {
			t.Fatalf("%s: event %+v, want %s with %q", r.path, ev, r.outcome, r.reason)
		}
		got = append(got, ev)
	}
	if got[0].InvoiceID != "inv_live_1" || got[0].EventID == "" {
		t.Errorf("the capture lacks its invoice or event id: %+v", got[0])
	}

	var log struct {
		Recent []outcome `json:"recent"`
	}
	proc.adminJSON(http.MethodGet, "/sale_track/recent?limit=10", &log)
	var listed []string
	for _, e := range log.Recent {
		if e.Outcome != "delivered" {
			listed = append(listed, e.Outcome)
		}
	}
	if !slices.Equal(listed, []string{"skipped", "not_sale", "captured"}) {
		t.Errorf("GET /sale_track/recent lists %v, want skipped, not_sale, captured (newest first)", listed)
	}
	if status := proc.adminJSON(http.MethodGet, "/sale_track/recent?limit=0", nil); status != http.StatusBadRequest {
		t.Errorf("limit=0 answered %d, want 400", status)
	}

	again := followRecent(t, proc, "", got[0].id)
	if a, b := again.next(), again.next(); a.Outcome != "not_sale" || b.Outcome != "skipped" {
		t.Errorf("after reconnecting from the first event: %s, %s; want not_sale, skipped", a.Outcome, b.Outcome)
	}

	tail := exec.Command(caddyBin, "sale-track", "tail", "--address", fmt.Sprintf("127.0.0.1:%d", admin), "--last", "10")
	out := &syncBuffer{}
	tail.Stdout, tail.Stderr = out, out
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tail.Process.Kill(); _ = tail.Wait() })
	waitOutput := func(what string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !strings.Contains(out.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("tail never printed %q:\n%s", what, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitOutput("captured   sale  default  invoice=inv_live_1  event=")
	waitOutput("not_sale   sale  default  condition not met: order.status paid")

	proc.reload(config(admin, port, shop, endpoint(plat), storage, "recent 60"))
	if !stream.ended() {
		t.Error("the stream outlived the config that served it")
	}
	if _, err := post(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/checkout/inv_live_4", port)); err != nil {
		t.Fatal(err)
	}
	waitOutput("captured   sale  default  invoice=inv_live_4")
	waitOutput("delivered  sale  default  invoice=inv_live_1")
	if n := strings.Count(out.String(), "invoice=inv_live_1  event="); n != 2 {
		// once captured, once delivered: reconnecting repeated nothing
		t.Errorf("tail printed inv_live_1 %d times, want 2:\n%s", n, out.String())
	}
}

// A route whose when condition never holds gets one WARN after 20
// responses, with the reason counted, and no second one soon after.
func TestNoSaleWarning(t *testing.T) {
	dir := t.TempDir()
	plat := newPlatform(t)
	admin, port := fake.FreePort(), fake.FreePort()
	proc := startCaddy(t, dir, admin, config(admin, port, startShop(t), endpoint(plat), filepath.Join(dir, "st"), ""))
	const warning = "responses matched this route's status and content type but none was a sale"
	pending := func(from, n int) {
		for i := from; i < from+n; i++ {
			if status, err := post(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/checkout/pending/inv_never_%d", port, i)); err != nil || status != 200 {
				t.Fatalf("checkout: %d %v", status, err)
			}
		}
	}
	// A browser's response is out before its outcome is recorded: wait
	// until the log lists them all before reading the WARNs.
	recorded := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var log struct{ Recent []outcome }
			proc.adminJSON(http.MethodGet, fmt.Sprintf("/sale_track/recent?limit=%d", n), &log)
			if len(log.Recent) == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the live log lists %d outcomes, want %d", len(log.Recent), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	pending(0, 19)
	recorded(19)
	if strings.Contains(proc.logs.String(), warning) {
		t.Fatal("warned before 20 responses")
	}
	pending(19, 1)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(proc.logs.String(), warning) {
		if time.Now().After(deadline) {
			t.Fatal("no WARN after 20 responses that were no sale")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pending(20, 40)
	recorded(60)
	var lines []string
	for _, line := range strings.Split(proc.logs.String(), "\n") {
		if strings.Contains(line, warning) {
			lines = append(lines, line)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], `"route":"default","responses":20,"reasons":{"not_sale condition":20}`) {
		t.Errorf("want one WARN naming the route and 20 not_sale condition, got:\n%s", strings.Join(lines, "\n"))
	}
}
