package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// platform is a fake Sale Track API that records what it receives.
type platform struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	status   int
}

type recorded struct {
	header http.Header
	body   string
}

func newPlatform(t *testing.T) *platform {
	p := &platform{status: http.StatusAccepted}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.requests = append(p.requests, recorded{header: r.Header.Clone(), body: string(body)})
		status := p.status
		p.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(p.Close)
	return p
}

// waitFor waits until the platform has n requests, and returns them.
func (p *platform) waitFor(t *testing.T, n int) []recorded {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		got := append([]recorded(nil), p.requests...)
		p.mu.Unlock()
		if len(got) >= n {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t.Fatalf("platform got %d requests, want %d", len(p.requests), n)
	return nil
}

func (p *platform) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.requests)
}

// shop is a fake upstream whose checkout answers vary by path.
func newShop(t *testing.T) *httptest.Server {
	order := func(id string) []byte {
		return []byte(fmt.Sprintf(`{"order":{"id":%q,"status":"paid","total":"199.00","currency":"USD","customer":{"id":"user_123","email":"alex@example.com","first_name":"Alex","last_name":"Johnson"}}}`, id))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/checkout/plain/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Shop", "kept")
		w.WriteHeader(http.StatusCreated)
		w.Write(order(r.PathValue("id")))
	})
	// Compressed answers, as an upstream gives a browser that asked.
	mux.HandleFunc("/checkout/{encoding}/{id}", func(w http.ResponseWriter, r *http.Request) {
		enc := r.PathValue("encoding")
		body := compress(t, enc, order(r.PathValue("id")))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", enc)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body)
	})
	mux.HandleFunc("/checkout/chunked/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		body := order(r.PathValue("id"))
		for i := 0; i < len(body); i += 7 {
			w.Write(body[i:min(i+7, len(body))])
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/checkout/trailer/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Trailer", "X-Order-Checksum")
		w.Write(order(r.PathValue("id")))
		w.Header().Set("X-Order-Checksum", "c0ffee")
	})
	mux.HandleFunc("/checkout/pending/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(bytes.Replace(order(r.PathValue("id")), []byte(`"paid"`), []byte(`"pending"`), 1))
	})
	mux.HandleFunc("/checkout/malformed/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"order":{"id":"` + r.PathValue("id") + `","total":`))
	})
	mux.HandleFunc("/checkout/big/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"pad":"` + strings.Repeat("x", 2<<20) + `",` + string(order(r.PathValue("id")))[1:]))
	})
	mux.HandleFunc("/checkout/declined/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusPaymentRequired)
		w.Write(order(r.PathValue("id")))
	})
	mux.HandleFunc("/checkout/html/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write(order(r.PathValue("id")))
	})
	mux.HandleFunc("/checkout/sse/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: %s\n\n", order(r.PathValue("id")))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// loadConfig loads sites into the in-process Caddy behind the global
// options every test shares; saleTrack goes into the global sale_track
// block. The rates feed points at a closed local port: no test may reach
// the internet.
func loadConfig(t *testing.T, saleTrack, sites string) *caddytest.Tester {
	t.Helper()
	tester := caddytest.NewTester(t)
	tester.InitServer(`
	{
		skip_install_trust
		admin localhost:2999
		http_port 9080
		https_port 9443
		grace_period 1ns
		log {
			level ERROR
		}
		sale_track {
			fx_source http://127.0.0.1:9/eurofxref-daily.xml
			`+saleTrack+`
		}
	}
	`+sites, "caddyfile")
	return tester
}

// startCaddy loads a config with the checkout route in front of shop and
// the platform as endpoint, in-process, through Caddy's admin API.
func startCaddy(t *testing.T, shop, plat string, storage string) *caddytest.Tester {
	t.Helper()
	return loadConfig(t, fmt.Sprintf(`
			endpoint %s
			api_key test-key-123
			storage_dir %s
			backoff_base 10ms
			backoff_cap 50ms`, plat, storage), fmt.Sprintf(`
	http://localhost:9080 {
		handle /checkout/* {
			sale_track {
				amount      order.total
				currency    order.currency
				invoice_id  order.id
				customer_id order.customer.id
				email       order.customer.email
				name        [order.customer.first_name,order.customer.last_name]
				when        order.status paid
				route       checkout
			}
			reverse_proxy %s
		}
	}`, strings.TrimPrefix(shop, "http://")))
}

func checkout(t *testing.T, tester *caddytest.Tester, path string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://localhost:9080"+path, nil)
	req.Header.Set("Cookie", "clickId=cl_42")
	resp, err := tester.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestCaptureEndToEndInProcess(t *testing.T) {
	shop, plat := newShop(t), newPlatform(t)
	tester := startCaddy(t, shop.URL, plat.URL, t.TempDir())

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
	got := plat.waitFor(t, 1)[0]
	want := `{"event":"sale","timestamp":"` + gjsonTimestamp(t, got.body) + `","customerExternalId":"user_123","email":"alex@example.com","name":"Alex Johnson","currency":"USD","amount":199.0,"invoiceId":"inv_1","clickId":"cl_42"}`
	if got.body != want {
		t.Fatalf("platform got\n %s\nwant\n %s", got.body, want)
	}
	for header, value := range map[string]string{
		"Content-Type":  "application/json",
		"Authorization": "Bearer test-key-123",
	} {
		if got.header.Get(header) != value {
			t.Errorf("%s = %q, want %q", header, got.header.Get(header), value)
		}
	}
	if !strings.HasPrefix(got.header.Get("User-Agent"), "caddy-saletrack/") || got.header.Get("Idempotency-Key") == "" {
		t.Errorf("User-Agent %q, Idempotency-Key %q", got.header.Get("User-Agent"), got.header.Get("Idempotency-Key"))
	}

	// The same invoice again (a refresh, a retried request) counts once.
	checkout(t, tester, "/checkout/plain/inv_1")
	checkout(t, tester, "/checkout/plain/inv_2")
	plat.waitFor(t, 2)
	time.Sleep(100 * time.Millisecond)
	if n := plat.count(); n != 2 {
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
	tester := startCaddy(t, shop.URL, plat.URL, storage)

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
	got := plat.waitFor(t, 1)
	time.Sleep(100 * time.Millisecond)
	if n := plat.count(); n != 1 || !strings.Contains(got[0].body, `"invoiceId":"inv_real"`) {
		t.Fatalf("platform got %d events (%v), want only inv_real", n, got)
	}
}

func TestCompressedAndChunkedUpstreams(t *testing.T) {
	shop, plat := newShop(t), newPlatform(t)
	tester := startCaddy(t, shop.URL, plat.URL, t.TempDir())

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
		req, _ := http.NewRequest(http.MethodPost, "http://localhost:9080/checkout/"+enc+"/inv_"+enc, nil)
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
	got := plat.waitFor(t, len(encodings)+1)
	ids := map[string]bool{}
	for _, r := range got {
		var v struct{ InvoiceID string }
		json.Unmarshal([]byte(r.body), &v)
		ids[v.InvoiceID] = true
	}
	for _, id := range []string{"inv_gzip", "inv_zstd", "inv_br", "inv_deflate", "inv_chunked"} {
		if !ids[id] {
			t.Errorf("platform got %v, missing %s", ids, id)
		}
	}
}

func TestHeadIsPassedThrough(t *testing.T) {
	shop, plat := newShop(t), newPlatform(t)
	tester := startCaddy(t, shop.URL, plat.URL, t.TempDir())
	req, _ := http.NewRequest(http.MethodHead, "http://localhost:9080/checkout/plain/inv_head", nil)
	resp, err := tester.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	checkout(t, tester, "/checkout/plain/inv_after_head")
	got := plat.waitFor(t, 1)
	time.Sleep(100 * time.Millisecond)
	if plat.count() != 1 || !strings.Contains(got[0].body, "inv_after_head") {
		t.Fatalf("HEAD produced a sale: %v", got)
	}
}

func TestFileSinkIsTheDefault(t *testing.T) {
	shop := newShop(t)
	storage := t.TempDir()
	tester := loadConfig(t, "storage_dir "+storage, fmt.Sprintf(`
	http://localhost:9080 {
		sale_track {
			amount order.total
			invoice_id order.id
			customer_id order.customer.id
		}
		reverse_proxy %s
	}`, strings.TrimPrefix(shop.URL, "http://")))
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
	tester := startCaddy(t, shop.URL, plat.URL, t.TempDir())
	req, _ := http.NewRequest(http.MethodPost, "http://localhost:9080/checkout/trailer/inv_trailer", nil)
	resp, err := tester.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got := resp.Trailer.Get("X-Order-Checksum"); got != "c0ffee" {
		t.Fatalf("trailer X-Order-Checksum = %q, want c0ffee (trailers: %v)", got, resp.Trailer)
	}
	if got := plat.waitFor(t, 1); !strings.Contains(got[0].body, `"invoiceId":"inv_trailer"`) {
		t.Fatalf("platform got %s", got[0].body)
	}
}
