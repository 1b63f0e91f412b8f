package caddymodule

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/saletrack/caddy-saletrack/sale"
)

// watchedWriter is a recorder that tells when the final status was
// written, safe to watch from another goroutine.
type watchedWriter struct {
	*httptest.ResponseRecorder
	once  sync.Once
	wrote chan struct{}
	codes []int // every status written, 1xx included
}

func newWatchedWriter() *watchedWriter {
	return &watchedWriter{ResponseRecorder: httptest.NewRecorder(), wrote: make(chan struct{})}
}

func (w *watchedWriter) WriteHeader(code int) {
	w.codes = append(w.codes, code)
	if code < 200 {
		return // the recorder would take it for the final status
	}
	w.once.Do(func() { close(w.wrote) })
	w.ResponseRecorder.WriteHeader(code)
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.wrote) })
	return w.ResponseRecorder.Write(p)
}

func (w *watchedWriter) written() bool {
	select {
	case <-w.wrote:
		return true
	default:
		return false
	}
}

// newTimingHandler is a provisioned handler on app (source "response" or
// "request") reading order.total and order.customer.
func newTimingHandler(t *testing.T, app *App, source string) *Handler {
	t.Helper()
	h := &Handler{Body: source, Amount: []string{"order.total"}, InvoiceID: []string{"order.id"}, CustomerID: []string{"order.customer"},
		MaxBody: DefaultMaxBody, Status: []int{2}, Route: "timing"}
	spec, err := sale.BuildSpec(h.specConfig())
	if err != nil {
		t.Fatal(err)
	}
	h.spec, h.app, h.logger = spec, app, zap.NewNop()
	h.wants = h.wantsResponse
	return h
}

func timingRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/checkout", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, nil)
}

// A browser's response completes before its sale is committed: here the
// commit cannot happen at all until the app starts, and the response is
// done long before. The sale still reaches the outbox.
func TestBrowserResponseCompletesBeforeTheCommit(t *testing.T) {
	app := newTestApp(t) // not started: a commit waits for Start
	h := newTimingHandler(t, app, "response")
	body := `{"order":{"id":"inv_browser","total":12.5,"customer":"u1"}}`
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, err := io.WriteString(w, body)
		return err
	})
	w := newWatchedWriter()
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := h.ServeHTTP(w, timingRequest(""), next); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("the browser's response waited for the commit")
	}
	if w.Code != http.StatusCreated || w.Body.String() != body {
		t.Fatalf("response %d %q, want it unchanged", w.Code, w.Body)
	}
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	if err := app.Stop(); err != nil { // waits for the commit still under way
		t.Fatal(err)
	}
	if !committed(t, app, "inv_browser") {
		t.Fatal("the sale never reached the outbox")
	}
}

// A webhook's answer is held until its sale is committed: a provider that
// got a 2xx never resends, so the 2xx must mean the sale is on disk. The
// status, headers and body then pass unchanged; a flush cannot send them
// early.
func TestWebhookAnswerWaitsForTheCommit(t *testing.T) {
	app := newTestApp(t)
	h := newTimingHandler(t, app, "request")
	shopAnswered := make(chan struct{})
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if _, err := io.ReadAll(r.Body); err != nil {
			return err
		}
		w.Header().Set("X-Shop", "yes")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"received":true}`)
		_ = http.NewResponseController(w).Flush()
		close(shopAnswered)
		return nil
	})
	w := newWatchedWriter()
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := h.ServeHTTP(w, timingRequest(`{"order":{"id":"inv_hook","total":9,"customer":"u2"}}`), next); err != nil {
			t.Error(err)
		}
	}()
	<-shopAnswered
	// The shop has answered and flushed; the commit waits for the app.
	time.Sleep(50 * time.Millisecond)
	if w.written() {
		t.Fatal("the shop's answer reached the provider before the sale was committed")
	}
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("the webhook's answer never left after the commit")
	}
	if w.Code != http.StatusOK || w.Body.String() != `{"received":true}` || w.Header().Get("X-Shop") != "yes" {
		t.Fatalf("answer %d %q %v, want the shop's, unchanged", w.Code, w.Body, w.Header())
	}
	if err := app.Stop(); err != nil {
		t.Fatal(err)
	}
	if !committed(t, app, "inv_hook") {
		t.Fatal("the webhook's sale is not in the outbox")
	}
}

// Hold mode passes 1xx statuses at once, holds the final status and body
// until release, and lets a body past its bound through as it comes.
func TestTeeWriterHold(t *testing.T) {
	w := newWatchedWriter()
	tw := newTeeWriter(w, DefaultMaxBody, nil)
	tw.hold()
	tw.WriteHeader(http.StatusContinue)
	tw.WriteHeader(http.StatusAccepted)
	_, _ = tw.Write([]byte("held"))
	tw.Flush()
	if w.written() || len(w.codes) != 1 || w.codes[0] != http.StatusContinue {
		t.Fatalf("before release: statuses %v, written %v; want only the 100", w.codes, w.written())
	}
	tw.release()
	if w.Code != http.StatusAccepted || w.Body.String() != "held" || len(w.codes) != 2 {
		t.Fatalf("after release: %d %q (statuses %v)", w.Code, w.Body, w.codes)
	}

	big := newWatchedWriter()
	tw = newTeeWriter(big, DefaultMaxBody, nil)
	tw.hold()
	chunk := bytes.Repeat([]byte("x"), 40<<10)
	_, _ = tw.Write(chunk)
	if big.written() {
		t.Fatal("40 KiB was not held")
	}
	_, _ = tw.Write(chunk)
	if !big.written() || big.Body.Len() != 80<<10 {
		t.Fatalf("past the bound: %d bytes through, want all 80 KiB", big.Body.Len())
	}
	tw.release()
	if big.Body.Len() != 80<<10 {
		t.Fatalf("release wrote again: %d bytes", big.Body.Len())
	}
}

// A browser's response ends before its body is read for the sale: here
// the reading cannot finish (the binding lookup is held), and the handler
// has long returned. The request's variables wait for the reading, and
// then say what it found.
func TestBrowserResponseEndsBeforeItIsRead(t *testing.T) {
	app := newTestApp(t)
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	h := newTimingHandler(t, app, "response")
	reading, release := make(chan struct{}), make(chan struct{})
	h.fill = func(*sale.Event) { close(reading); <-release }
	body := `{"order":{"id":"inv_read_later","total":12.5,"customer":"u1"}}`
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		_, err := io.WriteString(w, body)
		return err
	})
	r := timingRequest("")
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := h.ServeHTTP(newWatchedWriter(), r, next); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("the browser's response waited for its body to be read")
	}
	<-reading
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	status := make(chan string)
	go func() {
		status <- repl.ReplaceAll("{http.vars.sale_track.status} {http.vars.sale_track.invoice_id}", "")
	}()
	close(release)
	if got := <-status; got != "captured inv_read_later" {
		t.Fatalf("variables say %q, want the sale read", got)
	}
	if err := app.Stop(); err != nil {
		t.Fatal(err)
	}
	if !committed(t, app, "inv_read_later") {
		t.Fatal("the sale never reached the outbox")
	}
}

// A panic while reading a body after its response is logged and counted,
// and ends nothing but that reading: the process, the app and the next
// sale go on. A panic once the sale was read and committed is logged, not
// counted as a sale lost.
func TestPanicAfterTheResponseIsContained(t *testing.T) {
	app := newTestApp(t)
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Stop() })
	core, logs := observer.New(zapcore.DebugLevel)
	panics, panicsAfterCommit := true, false
	app.logger = zap.New(core, zap.Hooks(func(e zapcore.Entry) error {
		if e.Message == "sale captured" && panicsAfterCommit {
			panic("logging broke")
		}
		return nil
	}))
	h := newTimingHandler(t, app, "response")
	h.logger = app.logger
	h.fill = func(*sale.Event) {
		if panics {
			panic("filler broke")
		}
	}
	serve := func(invoice string) {
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "application/json")
			_, err := io.WriteString(w, `{"order":{"id":"`+invoice+`","total":3,"customer":"u1"}}`)
			return err
		})
		if err := h.ServeHTTP(newWatchedWriter(), timingRequest(""), next); err != nil {
			t.Fatal(err)
		}
		if n := app.run.pending.wait(10 * time.Second); n > 0 {
			t.Fatalf("%d readings still running", n)
		}
	}
	before := counterValue(t, skippedTotal.WithLabelValues("timing", "sale", "panic"))
	serve("inv_panics")
	if got := counterValue(t, skippedTotal.WithLabelValues("timing", "sale", "panic")); got != before+1 {
		t.Errorf("skipped_total{reason=panic} = %v, want %v", got, before+1)
	}
	if n := logs.FilterMessage("response not inspected, no sale").FilterField(zap.String("reason", "panic")).Len(); n != 1 {
		t.Errorf("%d WARNs naming the route's lost reading, want 1", n)
	}
	errs := logs.FilterLevelExact(zapcore.ErrorLevel).All()
	if len(errs) != 1 || !strings.Contains(errs[0].ContextMap()["stack"].(string), "TestPanicAfterTheResponseIsContained") {
		t.Fatalf("ERROR lines %v, want one with the stack of the panic", errs)
	}
	panics, panicsAfterCommit = false, true
	serve("inv_committed_then_panics")
	if got := counterValue(t, skippedTotal.WithLabelValues("timing", "sale", "panic")); got != before+1 {
		t.Errorf("a panic after the commit counted as a reading lost: skipped_total{reason=panic} = %v", got)
	}
	if n := logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 2 {
		t.Errorf("%d ERROR lines, want the second panic's too", n)
	}
	panicsAfterCommit = false
	serve("inv_after_panic")
	if err := app.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, invoice := range []string{"inv_committed_then_panics", "inv_after_panic"} {
		if !committed(t, app, invoice) {
			t.Fatalf("%s never reached the outbox", invoice)
		}
	}
}
