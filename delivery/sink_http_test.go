package delivery

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bojanz/currency"
	"github.com/saletrack/caddy-saletrack/internal/fake"
	"github.com/saletrack/caddy-saletrack/sale"
)

const testAPIKey = "sk_live_TOPSECRETKEY123"

func usdSale(t *testing.T) *sale.Event {
	t.Helper()
	ev := obSale(t, "INV-9", obT0)
	ev.ID = sale.EventID("INV-9")
	usd, err := currency.NewAmount("13.4", "USD")
	if err != nil {
		t.Fatal(err)
	}
	ev.USD = &sale.USDValue{Amount: usd, Rate: "1.0894", Date: "2026-04-09"}
	return ev
}

func TestHTTPSinkHeadersAndSignature(t *testing.T) {
	secretBytes := []byte("0123456789abcdef0123456789abcdef")
	for _, tc := range []struct {
		name    string
		secret  string
		key     []byte
		sendUSD bool
	}{
		{"whsec secret", "whsec_" + base64.StdEncoding.EncodeToString(secretBytes), secretBytes, false},
		{"raw secret", "plain-shared-secret", []byte("plain-shared-secret"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			platform := newPlatform(t)
			sink, err := NewHTTPSink(HTTPSinkOptions{
				Endpoint: platform.URL + "/v1/sales", APIKey: testAPIKey, SigningSecret: tc.secret,
				UserAgent: "caddy-saletrack/test", SendUSD: tc.sendUSD,
			})
			if err != nil {
				t.Fatal(err)
			}
			sink.now = func() time.Time { return obT0 }
			ev := usdSale(t)
			if err := sink.Send(context.Background(), ev); err != nil {
				t.Fatalf("Send: %v", err)
			}
			reqs := platform.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/v1/sales" || r.Status != http.StatusAccepted {
				t.Errorf("request %s %s answered %d", r.Method, r.Path, r.Status)
			}
			wantBody := ev.Payload(tc.sendUSD)
			if r.Body != string(wantBody) {
				t.Errorf("body\n got %s\nwant %s", r.Body, wantBody)
			}
			ts := strconv.FormatInt(obT0.Unix(), 10)
			mac := hmac.New(sha256.New, tc.key)
			mac.Write([]byte(ev.ID + "." + ts + "." + string(wantBody)))
			for name, want := range map[string]string{
				"Content-Type":      "application/json",
				"Authorization":     "Bearer " + testAPIKey,
				"Idempotency-Key":   ev.ID,
				"User-Agent":        "caddy-saletrack/test",
				"Webhook-Id":        ev.ID,
				"Webhook-Timestamp": ts,
				"Webhook-Signature": "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)),
			} {
				if got := r.Header.Values(name); len(got) != 1 || got[0] != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestHTTPSinkOptionalHeadersAbsent(t *testing.T) {
	platform := newPlatform(t)
	platform.Script(func(fake.Request) fake.Reply { return fake.Reply{Status: http.StatusNoContent} })
	sink, err := NewHTTPSink(HTTPSinkOptions{Endpoint: platform.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Send(context.Background(), usdSale(t)); err != nil {
		t.Fatal(err)
	}
	h := platform.Requests()[0].Header
	for _, name := range []string{"Authorization", "Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"} {
		if v := h.Values(name); len(v) != 0 {
			t.Errorf("%s = %q without a key or secret configured", name, v)
		}
	}
	if got := platform.Requests()[0].Body; got != string(usdSale(t).Payload(false)) {
		t.Errorf("SendUSD off: body %s", got)
	}
}

func TestHTTPSinkClassifiesResponses(t *testing.T) {
	longBody := strings.Repeat("x", 600)
	for _, tc := range []struct {
		status     int
		header     map[string]string
		body       string
		permanent  bool
		retryAfter time.Duration
		wantBody   string
	}{
		{status: 422, body: `{"error":"invalid email"}`, permanent: true, wantBody: `{"error":"invalid email"}`},
		{status: 400, body: longBody, permanent: true, wantBody: longBody[:512]},
		{status: 501, permanent: true},
		{status: 503, header: map[string]string{"Retry-After": "7"}, retryAfter: 7 * time.Second},
		{status: 429, header: map[string]string{"Retry-After": obT0.Add(time.Minute).Format(http.TimeFormat)}, retryAfter: time.Minute},
		{status: 500, body: "oops", wantBody: "oops"},
		{status: 408},
		{status: 302, header: map[string]string{"Location": "/v2/track/sale"}, permanent: true},
	} {
		platform := newPlatform(t)
		platform.Script(func(fake.Request) fake.Reply {
			return fake.Reply{Status: tc.status, Header: tc.header, Body: tc.body}
		})
		sink, err := NewHTTPSink(HTTPSinkOptions{Endpoint: platform.URL, APIKey: testAPIKey})
		if err != nil {
			t.Fatal(err)
		}
		sink.now = func() time.Time { return obT0 }
		err = sink.Send(context.Background(), usdSale(t))
		var se *SendError
		if !errors.As(err, &se) {
			t.Errorf("%d: error %v (%T), want *SendError", tc.status, err, err)
			continue
		}
		if se.Status != tc.status || se.Permanent != tc.permanent || se.RetryAfter != tc.retryAfter || se.Body != tc.wantBody {
			t.Errorf("%d: got status %d permanent %t retry-after %v body %q; want %d %t %v %q",
				tc.status, se.Status, se.Permanent, se.RetryAfter, se.Body, tc.status, tc.permanent, tc.retryAfter, tc.wantBody)
		}
		if IsPermanent(err) != tc.permanent {
			t.Errorf("%d: IsPermanent = %t", tc.status, IsPermanent(err))
		}
	}
}

func TestHTTPSinkNeverLeaksTheKey(t *testing.T) {
	// A platform that is down: the round trip fails and url.Error would
	// print the URL.
	down := newPlatform(t)
	down.Down()
	addr := strings.TrimPrefix(down.URL, "http://")
	endpoint := "http://apiuser:" + testAPIKey + "@" + addr + "/v1/sales?api_key=" + testAPIKey
	sink, err := NewHTTPSink(HTTPSinkOptions{Endpoint: endpoint, APIKey: testAPIKey, SigningSecret: "whsec_" + base64.StdEncoding.EncodeToString([]byte(testAPIKey))})
	if err != nil {
		t.Fatal(err)
	}
	err = sink.Send(context.Background(), usdSale(t))
	if err == nil || IsPermanent(err) {
		t.Fatalf("connection refused: %v; want a retryable error", err)
	}
	checkNoSecret(t, "transport error", err)
	if !strings.Contains(err.Error(), addr+"/v1/sales") {
		t.Errorf("error %q should still say where", err)
	}

	// A platform that echoes the key back in its error body.
	echo := newPlatform(t)
	echo.Script(func(r fake.Request) fake.Reply {
		return fake.Reply{Status: http.StatusUnauthorized, Body: "bad key: " + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")}
	})
	sink, err = NewHTTPSink(HTTPSinkOptions{Endpoint: echo.URL + "?key=" + testAPIKey, APIKey: testAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	err = sink.Send(context.Background(), usdSale(t))
	checkNoSecret(t, "401 error", err)
	var se *SendError
	if !errors.As(err, &se) || strings.Contains(se.Body, testAPIKey) || !strings.Contains(se.Body, "bad key: [REDACTED]") {
		t.Errorf("401 body kept as %q", se.Body)
	}

	_, err = NewHTTPSink(HTTPSinkOptions{Endpoint: "ftp://u:" + testAPIKey + "@host/x", APIKey: testAPIKey})
	checkNoSecret(t, "bad endpoint", err)
	if _, err := NewHTTPSink(HTTPSinkOptions{Endpoint: echo.URL, SigningSecret: "whsec_!!notbase64"}); err == nil || strings.Contains(err.Error(), "notbase64") {
		t.Errorf("bad whsec secret: %v", err)
	}
}

func checkNoSecret(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.Contains(e.Error(), testAPIKey) {
			t.Errorf("%s: %T in the chain leaks the key: %q", what, e, e.Error())
		}
	}
}

func TestHTTPSinkTimeout(t *testing.T) {
	platform := newPlatform(t)
	platform.Hang()
	sink, err := NewHTTPSink(HTTPSinkOptions{Endpoint: platform.URL, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = sink.Send(context.Background(), usdSale(t))
	if err == nil || IsPermanent(err) || time.Since(start) > 5*time.Second {
		t.Errorf("slow platform: %v after %v; want a prompt retryable error", err, time.Since(start))
	}
}

// With as many sends in flight as Connections, connections are reused: the
// platform sees about Connections TCP connections, not a new one for most
// sends. (Go's client may dial an extra one when a send starts just before
// a finished one's connection is back in the pool; keeping only the
// default two idle, 80 sends here open about 60.)
func TestHTTPSinkKeepsOneConnectionPerConcurrentSend(t *testing.T) {
	const inFlight, rounds = 8, 10
	platform := newPlatform(t)
	sink, err := NewHTTPSink(HTTPSinkOptions{Endpoint: platform.URL, Connections: inFlight})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	ev := usdSale(t)
	for round := 0; round < rounds; round++ {
		var wg sync.WaitGroup
		errs := make(chan error, inFlight)
		for i := 0; i < inFlight; i++ {
			wg.Go(func() { errs <- sink.Send(context.Background(), ev) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := platform.Conns(); n < inFlight || n >= 2*inFlight {
		t.Fatalf("%d sends, %d at a time, opened %d connections; want about %d, each reused", inFlight*rounds, inFlight, n, inFlight)
	}
}
