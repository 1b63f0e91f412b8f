package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// The in-process Caddy that caddytest starts lives as long as the test
// binary, so its ports are picked once, by the OS.
var (
	adminPort = fake.FreePort()
	httpPort  = fake.FreePort()
	httpsPort = fake.FreePort()
	// siteURL is the address of the sites the tests load.
	siteURL = fmt.Sprintf("http://localhost:%d", httpPort)
	// adminURL is the in-process Caddy's admin endpoint.
	adminURL = fmt.Sprintf("http://localhost:%d", adminPort)
)

func newPlatform(t *testing.T) *fake.Platform {
	p := fake.NewPlatform()
	t.Cleanup(p.Close)
	return p
}

func newShop(t *testing.T) *fake.Shop {
	s := fake.NewShop()
	t.Cleanup(s.Close)
	return s
}

// loadConfig loads sites into the in-process Caddy behind the global
// options every test shares; saleTrack goes into the global sale_track
// block. The rates feed points at a closed local port: no test may reach
// the internet.
func loadConfig(t *testing.T, saleTrack, sites string) *caddytest.Tester {
	t.Helper()
	return loadGlobal(t, fmt.Sprintf(`sale_track {
			platform generic
			fx_source http://127.0.0.1:9/eurofxref-daily.xml
			%s
		}`, saleTrack), sites)
}

// loadGlobal loads sites into the in-process Caddy behind the global
// options every test shares and the options in global.
func loadGlobal(t *testing.T, global, sites string) *caddytest.Tester {
	t.Helper()
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: adminPort})
	tester.InitServer(fmt.Sprintf(`
	{
		skip_install_trust
		admin localhost:%d
		http_port %d
		https_port %d
		grace_period 1ns
		log {
			level ERROR
		}
		%s
	}
	`, adminPort, httpPort, httpsPort, global)+sites, "caddyfile")
	// What a test leaves queued, the next test's config (another
	// storage_dir) takes over and delivers to that test's platform. So each
	// test waits for its sales to be delivered, while its platform is up:
	// this cleanup runs before the platform's, registered earlier.
	t.Cleanup(func() { waitDelivered(t) })
	return tester
}

// waitDelivered waits until no delivery has a sale queued or in flight.
func waitDelivered(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var queued int64
		for _, d := range liveDeliveries() {
			queued += d.emitter.Stats().Queued
		}
		if queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("the test left %d sales undelivered; the next test's config would take them over", queued)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startCaddy loads a config with the checkout route in front of the shop
// at shopAddr and endpoint as the platform, in-process, through Caddy's
// admin API.
func startCaddy(t *testing.T, shopAddr, endpoint string, storage string) *caddytest.Tester {
	t.Helper()
	return loadConfig(t, fmt.Sprintf(`
			endpoint %s
			api_key test-key-123
			storage_dir %s
			backoff_base 10ms
			backoff_cap 50ms`, endpoint, storage), fmt.Sprintf(`
	%s {
		handle /checkout/* {
			%s
			reverse_proxy %s
		}
	}`, siteURL, fake.OrderSaleTrack("route checkout"), shopAddr))
}

// checkout posts to the in-process site with a click cookie.
func checkout(t *testing.T, tester *caddytest.Tester, path string) (*http.Response, []byte) {
	t.Helper()
	resp, body := doWithCookies(t, tester, http.MethodPost, path, "clickId=cl_42")
	return resp, []byte(body)
}

func TestCaptureEndToEndInProcess(t *testing.T) {
	shop, plat := newShop(t), newPlatform(t)
	tester := startCaddy(t, shop.Addr, plat.URL, t.TempDir())

	direct, err := http.Post(shop.URL+"/checkout/plain/inv_1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantBody, _ := io.ReadAll(direct.Body)
	direct.Body.Close()

	resp, body := checkout(t, tester, "/checkout/plain/inv_1")
	if resp.StatusCode != http.StatusCreated || !bytes.Equal(body, wantBody) || resp.Header.Get("X-Shop") != "kept" {
		t.Fatalf("the response was altered: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	got := plat.WaitRequests(t, 1)[0]
	want := `{"event":"sale","timestamp":"` + gjsonTimestamp(t, got.Body) + `","customerExternalId":"user_123","email":"alex@example.com","name":"Alex Johnson","currency":"USD","amount":199.0,"invoiceId":"inv_1","clickId":"cl_42"}`
	if got.Body != want {
		t.Fatalf("platform got\n %s\nwant\n %s", got.Body, want)
	}
	for header, value := range map[string]string{
		"Content-Type":  "application/json",
		"Authorization": "Bearer test-key-123",
	} {
		if got.Header.Get(header) != value {
			t.Errorf("%s = %q, want %q", header, got.Header.Get(header), value)
		}
	}
	if !strings.HasPrefix(got.Header.Get("User-Agent"), "caddy-saletrack/") || got.Header.Get("Idempotency-Key") == "" {
		t.Errorf("User-Agent %q, Idempotency-Key %q", got.Header.Get("User-Agent"), got.Header.Get("Idempotency-Key"))
	}

	// The same invoice again (a refresh, a retried request) counts once.
	checkout(t, tester, "/checkout/plain/inv_1")
	checkout(t, tester, "/checkout/plain/inv_2")
	plat.WaitRequests(t, 2)
	time.Sleep(100 * time.Millisecond)
	if n := len(plat.Requests()); n != 2 {
		t.Fatalf("platform got %d events, want 2 (inv_1 once, inv_2 once)", n)
	}
}

func gjsonTimestamp(t *testing.T, body string) string {
	var v struct{ Timestamp string }
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("platform body is not JSON: %v", err)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", v.Timestamp); err != nil {
		t.Fatalf("timestamp %q is not RFC 3339 UTC with milliseconds", v.Timestamp)
	}
	return v.Timestamp
}

func TestResponsesThatAreNotSales(t *testing.T) {
	shop, plat := newShop(t), newPlatform(t)
	storage := t.TempDir()
	tester := startCaddy(t, shop.Addr, plat.URL, storage)

	for _, kind := range []string{"pending", "malformed", "big", "declined", "html", "sse"} {
		path := "/checkout/" + kind + "/inv_" + kind
		direct, err := http.Post(shop.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := io.ReadAll(direct.Body)
		direct.Body.Close()
		resp, body := checkout(t, tester, path)
		if resp.StatusCode != direct.StatusCode || !bytes.Equal(body, want) {
			t.Errorf("%s: response altered: %d (want %d), %d bytes (want %d)", kind, resp.StatusCode, direct.StatusCode, len(body), len(want))
		}
	}
	// One real sale after them proves the worker runs, so their absence counts.
	checkout(t, tester, "/checkout/plain/inv_real")
	got := plat.WaitRequests(t, 1)
	time.Sleep(100 * time.Millisecond)
	if n := len(plat.Requests()); n != 1 || !strings.Contains(got[0].Body, `"invoiceId":"inv_real"`) {
		t.Fatalf("platform got %d events (%v), want only inv_real", n, got)
	}
}

func TestCompressedAndChunkedUpstreams(t *testing.T) {
	shop, plat := newShop(t), newPlatform(t)
	tester := startCaddy(t, shop.Addr, plat.URL, t.TempDir())

	encodings := []string{"gzip", "zstd", "br", "deflate"}
	for _, enc := range encodings {
		directReq, _ := http.NewRequest(http.MethodPost, shop.URL+"/checkout/"+enc+"/inv_"+enc, nil)
		directReq.Header.Set("Accept-Encoding", enc)
		direct, err := http.DefaultTransport.RoundTrip(directReq) // the shop's bytes, undecoded
		if err != nil {
			t.Fatal(err)
		}
		want, _ := io.ReadAll(direct.Body)
		direct.Body.Close()
		req, _ := http.NewRequest(http.MethodPost, siteURL+"/checkout/"+enc+"/inv_"+enc, nil)
		req.Header.Set("Accept-Encoding", enc)
		resp, err := tester.Client.Transport.RoundTrip(req) // no transparent decompression
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("Content-Encoding") != enc || resp.Header.Get("Content-Length") != fmt.Sprint(len(raw)) || !bytes.Equal(raw, want) {
			t.Fatalf("%s response altered: %v (%d bytes, want %d)", enc, resp.Header, len(raw), len(want))
		}
	}
	checkout(t, tester, "/checkout/chunked/inv_chunked")
	got := plat.WaitRequests(t, len(encodings)+1)
	ids := map[string]bool{}
	for _, r := range got {
		ids[r.InvoiceID] = true
	}
	for _, id := range []string{"inv_gzip", "inv_zstd", "inv_br", "inv_deflate", "inv_chunked"} {
		if !ids[id] {
			t.Errorf("platform got %v, missing %s", ids, id)
		}
	}
}

func TestHeadIsPassedThrough(t *testing.T) {
	shop, plat := newShop(t), newPlatform(t)
	tester := startCaddy(t, shop.Addr, plat.URL, t.TempDir())
	req, _ := http.NewRequest(http.MethodHead, siteURL+"/checkout/plain/inv_head", nil)
	resp, err := tester.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	checkout(t, tester, "/checkout/plain/inv_after_head")
	got := plat.WaitRequests(t, 1)
	time.Sleep(100 * time.Millisecond)
	if len(plat.Requests()) != 1 || !strings.Contains(got[0].Body, "inv_after_head") {
		t.Fatalf("HEAD produced a sale: %v", got)
	}
}

func TestFileSinkIsTheDefault(t *testing.T) {
	shop := newShop(t)
	storage := t.TempDir()
	tester := loadConfig(t, "storage_dir "+storage, fmt.Sprintf(`
	%s {
		sale_track {
			amount order.total
			invoice_id order.id
			customer_id order.customer.id
		}
		reverse_proxy %s
	}`, siteURL, shop.Addr))
	checkout(t, tester, "/checkout/plain/inv_file")
	file := filepath.Join(storage, "sales.jsonl")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(file)
		if len(data) > 0 {
			line := strings.TrimSpace(string(data))
			if !strings.Contains(line, `"invoiceId":"inv_file"`) || !strings.Contains(line, `"amountUsd":199.00`) || strings.Count(string(data), "\n") != 1 {
				t.Fatalf("file sink line: %s", line)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no line in %s", file)
}

// A response with trailers keeps them through the tee, and is still a sale.
func TestTrailersPassThrough(t *testing.T) {
	shop, plat := newShop(t), newPlatform(t)
	tester := startCaddy(t, shop.Addr, plat.URL, t.TempDir())
	req, _ := http.NewRequest(http.MethodPost, siteURL+"/checkout/trailer/inv_trailer", nil)
	resp, err := tester.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got := resp.Trailer.Get("X-Order-Checksum"); got != "c0ffee" {
		t.Fatalf("trailer X-Order-Checksum = %q, want c0ffee (trailers: %v)", got, resp.Trailer)
	}
	if got := plat.WaitRequests(t, 1); !strings.Contains(got[0].Body, `"invoiceId":"inv_trailer"`) {
		t.Fatalf("platform got %s", got[0].Body)
	}
}
