package fake

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

func newShop(t *testing.T) *Shop {
	s := NewShop()
	t.Cleanup(s.Close)
	return s
}

// raw sends a request without Go's transparent gzip, and returns the
// response with its body read.
func raw(t *testing.T, method, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
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

func decompress(t *testing.T, encoding string, data []byte) []byte {
	t.Helper()
	var r io.Reader
	var err error
	switch encoding {
	case "gzip":
		r, err = gzip.NewReader(bytes.NewReader(data))
	case "deflate":
		r, err = zlib.NewReader(bytes.NewReader(data))
	case "br":
		r = brotli.NewReader(bytes.NewReader(data))
	case "zstd":
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(data))
		r = d
	default:
		return data
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", encoding, err)
	}
	return out
}

func TestOrderIsValidJSON(t *testing.T) {
	var v struct {
		Order struct {
			ID, Status, Total, Currency string
			Customer                    struct{ ID, Email, Name string }
		}
	}
	body := Order("inv_1", "paid")
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if o := v.Order; o.ID != "inv_1" || o.Status != "paid" || o.Total != "199.00" || o.Currency != "USD" || o.Customer.ID != "user_123" || o.Customer.Name != "Alex Johnson" {
		t.Errorf("order %+v", o)
	}
	if len(body) < 2000 || len(body) > 2500 {
		t.Errorf("order is %d bytes, want about 2 KB", len(body))
	}
}

func TestShopCheckoutForms(t *testing.T) {
	s := newShop(t)
	paid := Order("inv_x", "paid")
	for _, tc := range []struct {
		path, encoding, contentType string
		status                      int
		body                        []byte
		lengthKnown                 bool
	}{
		{"/checkout/inv_x", "", "application/json", 200, paid, true},
		{"/checkout/plain/inv_x", "", "application/json", 201, paid, true},
		{"/checkout/gzip/inv_x", "gzip", "application/json", 200, paid, true},
		{"/checkout/zstd/inv_x", "zstd", "application/json", 200, paid, true},
		{"/checkout/br/inv_x", "br", "application/json", 200, paid, true},
		{"/checkout/deflate/inv_x", "deflate", "application/json", 200, paid, true},
		{"/checkout/chunked/inv_x", "", "application/json", 200, paid, false},
		{"/checkout/pending/inv_x", "", "application/json", 200, Order("inv_x", "pending"), true},
		{"/checkout/malformed/inv_x", "", "application/json", 200, paid[:len(paid)/2], true},
		{"/checkout/big/inv_x", "", "application/json", 200, []byte(`{"pad":"` + strings.Repeat("x", 2<<20) + `",` + string(paid[1:])), false},
		{"/checkout/declined/inv_x", "", "application/json", 402, paid, true},
		{"/checkout/html/inv_x", "", "text/html", 200, paid, true},
		{"/checkout/sse/inv_x", "", "text/event-stream", 200, []byte("data: " + string(paid) + "\n\n"), true},
		{"/checkout/missing/inv_x", "", "application/json", 404, []byte(`{"error":"not found"}`), true},
		{"/checkout/plain/inv_x?total=100.00&currency=EUR", "", "application/json", 201, order("inv_x", "paid", "100.00", "EUR"), true},
	} {
		resp, body := raw(t, http.MethodPost, s.URL+tc.path, nil)
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != tc.contentType || resp.Header.Get("Content-Encoding") != tc.encoding {
			t.Errorf("%s: %d %v", tc.path, resp.StatusCode, resp.Header)
		}
		if got := decompress(t, tc.encoding, body); !bytes.Equal(got, tc.body) {
			t.Errorf("%s: body %.80q…, want %.80q…", tc.path, got, tc.body)
		}
		if (resp.ContentLength == int64(len(body))) != tc.lengthKnown {
			t.Errorf("%s: Content-Length %d for %d bytes", tc.path, resp.ContentLength, len(body))
		}
	}
	if resp, _ := raw(t, http.MethodPost, s.URL+"/checkout/plain/inv_x", nil); resp.Header.Get("X-Shop") != "kept" {
		t.Errorf("plain: X-Shop %q", resp.Header.Get("X-Shop"))
	}
}

func TestShopChunkedAndTrailer(t *testing.T) {
	s := newShop(t)
	resp, err := http.Post(s.URL+"/checkout/trailer/inv_t", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, Order("inv_t", "paid")) || resp.Trailer.Get("X-Order-Checksum") != "c0ffee" {
		t.Errorf("trailer: %d bytes, trailers %v", len(body), resp.Trailer)
	}
	resp, err = http.Post(s.URL+"/checkout/chunked/inv_c", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("chunked: transfer encoding %v", resp.TransferEncoding)
	}
}

func TestShopAutoGzipAndNewIDs(t *testing.T) {
	s := newShop(t)
	ids := map[string]bool{}
	for _, accept := range []string{"gzip", "", "gzip, br"} {
		resp, body := raw(t, http.MethodPost, s.URL+"/checkout/auto/new", map[string]string{"Accept-Encoding": accept})
		enc := resp.Header.Get("Content-Encoding")
		if (enc == "gzip") != strings.Contains(accept, "gzip") || resp.ContentLength != int64(len(body)) {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, length %d for %d bytes", accept, enc, resp.ContentLength, len(body))
		}
		var v struct{ Order struct{ ID string } }
		if err := json.Unmarshal(decompress(t, enc, body), &v); err != nil || !strings.HasPrefix(v.Order.ID, "inv_") {
			t.Fatalf("auto: %v %q", err, v.Order.ID)
		}
		ids[v.Order.ID] = true
	}
	if len(ids) != 3 {
		t.Errorf("the id new gave %v, want three different ids", ids)
	}
}

func TestShopInHandlerCallsThePlatformFirst(t *testing.T) {
	s, p := newShop(t), newPlatform(t)
	if resp, _ := raw(t, http.MethodPost, s.URL+"/checkout/inhandler/inv_h", nil); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("without a platform: %d, want 502", resp.StatusCode)
	}
	s.SetPlatform(p.URL + "/v1/track/sale")
	p.Slow(100 * time.Millisecond)
	start := time.Now()
	resp, body := raw(t, http.MethodPost, s.URL+"/checkout/inhandler/inv_h", nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, Order("inv_h", "paid")) || time.Since(start) < 100*time.Millisecond {
		t.Errorf("inhandler: %d after %v", resp.StatusCode, time.Since(start))
	}
	if reqs := p.Requests(); len(reqs) != 1 || reqs[0].Body != string(body) || reqs[0].Status != 202 {
		t.Errorf("the platform got %+v", reqs)
	}
}

func TestShopWebhooksCheckTheSignature(t *testing.T) {
	s := newShop(t)
	for _, tc := range []struct{ signature, body string }{{"forged", `{"a":1}`}, {"valid", `{"b":2}`}} {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/webhooks/pay", strings.NewReader(tc.body))
		req.Header.Set("X-Signature", tc.signature)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := map[string]int{"forged": 400, "valid": 200}[tc.signature]; resp.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", tc.signature, resp.StatusCode, answer, want)
		}
	}
	if got := s.Webhooks(); len(got) != 2 || got[0] != `{"a":1}` || got[1] != `{"b":2}` {
		t.Errorf("Webhooks = %q", got)
	}
}

func TestShopOtherRoutes(t *testing.T) {
	s := newShop(t)
	if resp, _ := raw(t, http.MethodPost, s.URL+"/forbidden", nil); resp.StatusCode != 403 {
		t.Errorf("/forbidden: %d", resp.StatusCode)
	}
	resp, body := raw(t, http.MethodGet, s.URL+"/bytes/3000000", nil)
	if resp.ContentLength != 3000000 || len(body) != 3000000 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("/bytes: length %d, %d bytes, %v", resp.ContentLength, len(body), resp.Header)
	}
	resp, body = raw(t, http.MethodGet, s.URL+"/", nil)
	if resp.Header.Get("Set-Cookie") != "session=abc; Path=/" || string(body) != "<html>landing</html>" {
		t.Errorf("landing: %v %q", resp.Header, body)
	}
}

func TestShopUpgradeEchoes(t *testing.T) {
	s := newShop(t)
	conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(conn, "GET /upgrade HTTP/1.1\r\nHost: shop\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	for _, line := range []string{"hello\n", "again\n"} {
		fmt.Fprint(conn, line)
		if got, err := br.ReadString('\n'); err != nil || got != "echo: "+line {
			t.Fatalf("got %q, %v", got, err)
		}
	}
}
