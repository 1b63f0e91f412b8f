package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// The README's first command runs Caddyfile.example; its curl lines must
// put one lead and one sale into ./sales.jsonl. This runs a copy of that
// demo file, unchanged but for its ports (the site's, the shop's and the
// admin's become ports the OS picks) and the rates feed, which a test must not fetch
// from the internet.
func TestDemoCaddyfile(t *testing.T) {
	src, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	// The demo's two ports, in the order it names them: the site the
	// README's curl lines reach, then the stand-in shop.
	ports := regexp.MustCompile(`localhost:(\d+)`).FindAllStringSubmatch(string(src), -1)
	var named []string
	for _, m := range ports {
		if !slices.Contains(named, m[1]) {
			named = append(named, m[1])
		}
	}
	if len(named) != 2 {
		t.Fatalf("the demo names ports %v, want the site's and the shop's", named)
	}
	admin, site, shop := fake.FreePort(), fake.FreePort(), fake.FreePort()
	demo := string(src)
	for _, r := range []struct {
		old, new string
		n        int
	}{
		{"localhost:" + named[0], fmt.Sprintf("localhost:%d", site), -1},
		{"localhost:" + named[1], fmt.Sprintf("localhost:%d", shop), -1},
		// The first sale_track block is the global one.
		{"\tsale_track {\n", fmt.Sprintf("\tadmin 127.0.0.1:%d\n\tsale_track {\n\t\tfx_source http://127.0.0.1:9/eurofxref-daily.xml\n", admin), 1},
	} {
		if !strings.Contains(demo, r.old) {
			t.Fatalf("the demo has no %q", r.old)
		}
		demo = strings.Replace(demo, r.old, r.new, r.n)
	}
	dir := t.TempDir()
	startCaddy(t, dir, admin, demo)

	landing, err := http.Get(fmt.Sprintf("http://localhost:%d/?cms_rf=cl_42", site))
	if err != nil {
		t.Fatal(err)
	}
	landing.Body.Close()
	if c := landing.Header.Get("Set-Cookie"); !strings.HasPrefix(c, "cms_rf=cl_42; Path=/; Max-Age=7776000; HttpOnly; SameSite=Lax") {
		t.Fatalf("landing Set-Cookie = %q", c)
	}

	signup, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://localhost:%d/api/signup", site), nil)
	signup.Header.Set("Cookie", "cms_rf=cl_42")
	if resp, err := http.DefaultClient.Do(signup); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("sign-up: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://localhost:%d/api/checkout", site), nil)
	req.Header.Set("Cookie", "cms_rf=cl_42")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var order struct {
		Order struct{ ID string }
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &order) != nil || !strings.HasPrefix(order.Order.ID, "inv_") {
		t.Fatalf("checkout answered %d %s", resp.StatusCode, body)
	}

	file := filepath.Join(dir, "sales.jsonl")
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(file)
		if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) == 2 {
			wants := map[string]map[string]any{
				"lead": {"event": "lead", "customerExternalId": "user_123", "email": "alex@example.com", "name": "Alex Johnson", "clickId": "cl_42"},
				"sale": {"event": "sale", "customerExternalId": "user_123", "email": "alex@example.com", "name": "Alex Johnson", "currency": "USD", "amount": 199.0, "invoiceId": order.Order.ID, "clickId": "cl_42"},
			}
			// One lead and one sale, in either order: the lead's commit
			// follows the sign-up's response, and the worker sends
			// events concurrently ("Order across invoices is not
			// promised"), so the sale's line may come first.
			byEvent := map[string]map[string]any{}
			for _, l := range lines {
				var line map[string]any
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatalf("sales.jsonl: %v: %s", err, data)
				}
				event, _ := line["event"].(string)
				if byEvent[event] != nil {
					t.Fatalf("sales.jsonl holds two %q lines: %s", event, data)
				}
				byEvent[event] = line
			}
			for event, want := range wants {
				line := byEvent[event]
				if line == nil {
					t.Fatalf("sales.jsonl has no %s line: %s", event, data)
				}
				for k, v := range want {
					if line[k] != v {
						t.Errorf("sales.jsonl %s line: %s = %v, want %v", event, k, line[k], v)
					}
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sales.jsonl after 10s: %q", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
