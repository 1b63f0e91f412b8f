package fake

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newPlatform(t *testing.T) *Platform {
	p := NewPlatform()
	t.Cleanup(p.Close)
	return p
}

// send posts body to the platform with an Idempotency-Key and returns the
// status, a header and the answer's body.
func send(t *testing.T, client *http.Client, url, key, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("Authorization", "Bearer k")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(answer)
}

func sale(invoice string) string { return `{"event":"sale","invoiceId":"` + invoice + `"}` }

func TestPlatformAcceptsAndRecords(t *testing.T) {
	p := newPlatform(t)
	if status, _, body := send(t, http.DefaultClient, p.URL+"/v1/track/sale", "k1", sale("inv_1")); status != 202 || body != `{"ok":true}` {
		t.Fatalf("accept: %d %q", status, body)
	}
	if status, _, _ := send(t, http.DefaultClient, p.URL+"/v1/track/sale", "k2", "not json"); status != 400 {
		t.Fatalf("a body that is not JSON: %d, want 400", status)
	}
	reqs := p.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/v1/track/sale" || r.Body != sale("inv_1") || r.InvoiceID != "inv_1" ||
		r.IdempotencyKey() != "k1" || r.Header.Get("Authorization") != "Bearer k" || r.Status != 202 || !r.Accepted() || r.Attempt != 0 {
		t.Errorf("recorded %+v", r)
	}
	if reqs[1].Accepted() || reqs[1].Status != 400 {
		t.Errorf("the bad body is recorded as %+v", reqs[1])
	}
	if got := p.Accepted(); len(got) != 1 || got[0].InvoiceID != "inv_1" {
		t.Errorf("Accepted = %+v", got)
	}
	if received, accepted := p.Counts(); received != 2 || accepted != 1 {
		t.Errorf("Counts = %d, %d; want 2, 1", received, accepted)
	}
	p.Reset()
	if received, accepted := p.Counts(); len(p.Requests()) != 0 || received != 0 || accepted != 0 {
		t.Errorf("after Reset: %d requests, Counts %d, %d", len(p.Requests()), received, accepted)
	}
}

func TestPlatformFailAndRetryAfter(t *testing.T) {
	p := newPlatform(t)
	p.Fail(422, `{"error":"bad"}`)
	if status, _, body := send(t, http.DefaultClient, p.URL, "k", sale("inv_f")); status != 422 || body != `{"error":"bad"}` {
		t.Fatalf("fail: %d %q", status, body)
	}
	p.RetryAfter(503, "7")
	if status, h, _ := send(t, http.DefaultClient, p.URL, "k", sale("inv_f")); status != 503 || h.Get("Retry-After") != "7" {
		t.Fatalf("retry after: %d %v", status, h)
	}
	p.Accept()
	send(t, http.DefaultClient, p.URL, "k", sale("inv_f"))
	if got := p.Invoices(); !maps.Equal(got, map[string]int{"inv_f": 1}) {
		t.Errorf("Invoices = %v, want only the accepted attempt", got)
	}
	var attempts []int
	for _, r := range p.Requests() {
		attempts = append(attempts, r.Attempt)
	}
	if !slices.Equal(attempts, []int{0, 1, 2}) || !slices.Equal(p.Keys("inv_f"), []string{"k", "k", "k"}) {
		t.Errorf("attempts %v, keys %v", attempts, p.Keys("inv_f"))
	}
}

func TestPlatformScript(t *testing.T) {
	p := newPlatform(t)
	p.Script(func(r Request) Reply {
		if r.Attempt == 0 {
			return Reply{Status: 500, Body: "first " + r.InvoiceID}
		}
		return Reply{}
	})
	for i, want := range []int{500, 202, 202} {
		if status, _, _ := send(t, http.DefaultClient, p.URL, fmt.Sprint(i), sale("inv_s")); status != want {
			t.Errorf("attempt %d: %d, want %d", i, status, want)
		}
	}
	if status, _, body := send(t, http.DefaultClient, p.URL, "x", sale("inv_t")); status != 500 || body != "first inv_t" {
		t.Errorf("another invoice's first attempt: %d %q", status, body)
	}
}

func TestPlatformSlowAndHang(t *testing.T) {
	p := newPlatform(t)
	p.Slow(200 * time.Millisecond)
	start := time.Now()
	if status, _, _ := send(t, http.DefaultClient, p.URL, "k", sale("inv_slow")); status != 202 || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("slow: %d after %v", status, time.Since(start))
	}
	impatient := &http.Client{Timeout: 50 * time.Millisecond}
	if _, err := impatient.Post(p.URL, "application/json", strings.NewReader(sale("inv_gave_up"))); err == nil {
		t.Fatal("a client that gives up before a slow answer got one")
	}

	p.Hang()
	done := make(chan error, 1)
	go func() {
		_, err := http.Post(p.URL, "application/json", strings.NewReader(sale("inv_hang")))
		done <- err
	}()
	reqs := p.WaitRequests(t, 3)
	select {
	case err := <-done:
		t.Fatalf("a hung request was answered: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	p.Down() // a request in flight gets no answer
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the hung request got an answer when the platform went down")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Down did not end the hung request")
	}
	if reqs[1].Status != 0 || reqs[2].Status != 0 || p.Requests()[2].Status != 0 {
		t.Errorf("unanswered requests have statuses %d, %d", reqs[1].Status, reqs[2].Status)
	}
}

func TestPlatformDownRefusesThenComesBackUp(t *testing.T) {
	p := newPlatform(t)
	client := &http.Client{Transport: &http.Transport{}}
	send(t, client, p.URL, "k", sale("inv_before"))
	p.Down()
	client.CloseIdleConnections() // the kept-alive one is gone: it would answer EOF
	for range 3 {
		_, err := client.Post(p.URL, "application/json", strings.NewReader(sale("inv_down")))
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("while down: %v, want connection refused", err)
		}
	}
	if runtime.GOOS == "linux" {
		if lis, err := net.Listen("tcp", strings.TrimPrefix(p.URL, "http://")); err == nil {
			lis.Close()
			t.Fatal("while down, the port was free for anyone to take")
		}
	}
	if err := p.Up(); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := send(t, client, p.URL, "k", sale("inv_after")); status != 202 {
		t.Fatalf("after Up: %d", status)
	}
	if got := p.WaitInvoices(t, "inv_before", "inv_after"); !maps.Equal(got, map[string]int{"inv_before": 1, "inv_after": 1}) {
		t.Errorf("Invoices across Down and Up: %v", got)
	}
}

func TestPlatformCountsConnections(t *testing.T) {
	p := newPlatform(t)
	client := &http.Client{Transport: &http.Transport{}}
	for i := range 3 {
		send(t, client, p.URL, "k", sale(fmt.Sprint("inv_", i)))
	}
	if n := p.Conns(); n != 1 {
		t.Errorf("3 requests on one kept-alive connection: %d connections", n)
	}
	send(t, &http.Client{Transport: &http.Transport{}}, p.URL, "k", sale("inv_new_client"))
	if n := p.Conns(); n != 2 {
		t.Errorf("a second client: %d connections, want 2", n)
	}
}

// fatalTB records a Fatalf instead of ending the test.
type fatalTB struct{ msg string }

func (f *fatalTB) Helper()                        {}
func (f *fatalTB) Fatalf(format string, a ...any) { f.msg = fmt.Sprintf(format, a...) }

func TestPlatformWaitFailsAfterTheTimeout(t *testing.T) {
	defer func(d time.Duration) { waitTimeout = d }(waitTimeout)
	waitTimeout = 50 * time.Millisecond
	p := newPlatform(t)
	send(t, http.DefaultClient, p.URL, "k", sale("inv_here"))
	var tb fatalTB
	p.WaitInvoices(&tb, "inv_here", "inv_missing")
	if !strings.Contains(tb.msg, "1 of 2 invoices never arrived") || !strings.Contains(tb.msg, "inv_missing") {
		t.Errorf("WaitInvoices failed with %q", tb.msg)
	}
	tb = fatalTB{}
	p.WaitRequests(&tb, 2)
	if !strings.Contains(tb.msg, "1 requests after 50ms, want 2") {
		t.Errorf("WaitRequests failed with %q", tb.msg)
	}
}
