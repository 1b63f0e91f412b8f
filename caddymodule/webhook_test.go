package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestWebhookSource(t *testing.T) {
	shop, plat := newShop(t), newPlatform(t)
	tester := loadConfig(t, fmt.Sprintf("endpoint %s\n\t\t\tstorage_dir %s", plat.URL, t.TempDir()), fmt.Sprintf(`
	%s {
		handle /webhooks/pay {
			sale_track {
				source      request
				amount      data.amount
				amount_unit minor
				currency    data.currency
				invoice_id  data.id
				customer_id data.metadata.customer_id
				click_id    data.metadata.click_id
				when        type payment.succeeded
				max_body    4KiB
			}
			reverse_proxy %s
		}
	}`, siteURL, shop.Addr))

	send := func(body, signature string) int {
		req, _ := http.NewRequest(http.MethodPost, siteURL+"/webhooks/pay", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Signature", signature)
		resp, err := tester.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	event := func(id, kind string) string {
		return `{"type":"` + kind + `","data":{"id":"` + id + `","amount":4999,"currency":"eur","metadata":{"customer_id":"user_9","click_id":"cl_9"}}}`
	}

	forged := event("pay_forged", "payment.succeeded")
	if status := send(forged, "forged"); status != http.StatusBadRequest {
		t.Fatalf("forged webhook: %d", status)
	}
	if status := send(event("pay_failed", "payment.failed"), "valid"); status != 200 {
		t.Fatalf("failed-payment webhook: %d", status)
	}
	huge := `{"type":"payment.succeeded","pad":"` + strings.Repeat("x", 8<<10) + `","data":{"id":"pay_huge","amount":1,"currency":"eur","metadata":{"customer_id":"u"}}}`
	if status := send(huge, "valid"); status != 200 {
		t.Fatalf("over-size webhook: %d", status)
	}
	good := event("pay_good", "payment.succeeded")
	if status := send(good, "valid"); status != 200 {
		t.Fatalf("good webhook: %d", status)
	}

	got := plat.WaitRequests(t, 1)
	time.Sleep(150 * time.Millisecond)
	if n := len(plat.Requests()); n != 1 {
		t.Fatalf("platform got %d events, want only pay_good", n)
	}
	want := `,"customerExternalId":"user_9","currency":"EUR","amount":49.99,"invoiceId":"pay_good","clickId":"cl_9"}`
	if !strings.HasSuffix(got[0].Body, want) {
		t.Fatalf("platform got %s", got[0].Body)
	}
	sent := []string{forged, event("pay_failed", "payment.failed"), huge, good}
	received := shop.Webhooks()
	if len(received) != len(sent) {
		t.Errorf("the shop received %d webhooks, sent %d", len(received), len(sent))
	}
	for i, body := range received {
		if body != sent[i] {
			t.Errorf("the shop received webhook %d altered (%d bytes, sent %d)", i, len(body), len(sent[i]))
		}
	}
}

// slowBody yields a large JSON body in small pieces with pauses, so the
// transport is still sending it after the upstream has answered.
type slowBody struct {
	left int
	sent bool
}

func (s *slowBody) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if !s.sent {
		s.sent = true
		return copy(p, `{"pad":"`), nil
	}
	time.Sleep(time.Millisecond)
	n := min(len(p), s.left, 16<<10)
	for i := range p[:n] {
		p[i] = 'x'
	}
	s.left -= n
	return n, nil
}

// An upstream that refuses a webhook before reading it (a 403 from an auth
// check) leaves the transport reading the body after the handler returned:
// the copy must step aside rather than crash Caddy, and nothing is a sale.
func TestWebhookRefusedBeforeReadKeepsCaddyUp(t *testing.T) {
	shop, plat := newShop(t), newPlatform(t)
	tester := loadConfig(t, fmt.Sprintf("endpoint %s\n\t\t\tstorage_dir %s", plat.URL, t.TempDir()), fmt.Sprintf(`
	%s {
		handle /forbidden {
			sale_track {
				source      request
				amount      data.amount
				customer_id data.customer
			}
			reverse_proxy %s
		}
		respond /alive "yes"
	}`, siteURL, shop.Addr))

	for i := 0; i < 4; i++ {
		req, _ := http.NewRequest(http.MethodPost, siteURL+"/forbidden", &slowBody{left: 2 << 20})
		req.Header.Set("Content-Type", "application/json")
		if resp, err := tester.Client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	time.Sleep(200 * time.Millisecond) // late reads happen now
	resp, err := tester.Client.Get(siteURL + "/alive")
	if err != nil {
		t.Fatalf("Caddy is down after refused webhooks: %v", err)
	}
	resp.Body.Close()
	if n := len(plat.Requests()); n != 0 {
		t.Fatalf("a refused webhook produced %d events", n)
	}
}
