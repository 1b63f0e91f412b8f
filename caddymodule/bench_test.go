package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/saletrack/caddy-saletrack/internal/fake"
	"github.com/saletrack/caddy-saletrack/sale"
	"go.uber.org/zap"
)

// newBenchHandler builds a provisioned handler whose app runs a real
// delivery: a bbolt outbox in a temp dir and a file sink.
func newBenchHandler(b *testing.B) *Handler {
	b.Helper()
	dir := b.TempDir()
	app := &App{StorageDir: dir, FxSource: "http://127.0.0.1:9/eurofxref-daily.xml", Endpoint: ""}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	if err := app.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	app.logger = zap.NewNop()
	if err := app.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { app.Stop() })
	h := &Handler{
		Amount: []string{"order.total"}, Currency: []string{"order.currency"}, InvoiceID: []string{"order.id"},
		CustomerID: []string{"order.customer.id"}, Email: []string{"order.customer.email"},
		Name: []string{"[order.customer.first_name,order.customer.last_name]"}, When: []sale.Condition{{Path: "order.status", Values: []string{"paid"}}},
		MaxBody: DefaultMaxBody, Status: []int{2}, Route: "bench",
	}
	spec, err := sale.BuildSpec(h.specConfig())
	if err != nil {
		b.Fatal(err)
	}
	h.spec, h.app, h.logger = spec, app, zap.NewNop()
	h.wants = h.wantsResponse
	return h
}

// benchServe drives h with parallel requests, or one at a time; with h
// nil it measures the same request and upstream without the module, the
// baseline. The time includes the reading and commit that follow each
// response in the background: one at a time, each is waited for before
// the next request, so each runs alone; in parallel, all are waited for
// at the end.
func benchServe(b *testing.B, h *Handler, contentType string, parallel bool) {
	var seq atomic.Int64
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", contentType)
		w.Write(fake.Order(fmt.Sprint("inv_", seq.Add(1)), "paid"))
		return nil
	})
	serve := func() {
		r := httptest.NewRequest(http.MethodPost, "/api/checkout", nil)
		w := httptest.NewRecorder()
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		var err error
		if h == nil {
			err = next.ServeHTTP(w, r)
		} else {
			err = h.ServeHTTP(w, r, next)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	settle := func() {
		if h != nil {
			h.app.run.pending.wait(time.Minute)
		}
	}
	b.ReportAllocs()
	if !parallel {
		for i := 0; i < b.N; i++ {
			serve()
			settle()
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			serve()
		}
	})
	settle()
}

// BenchmarkCapturePath: every response is a new sale, read and committed
// (fsync, group commit) after its response.
// 32 goroutines per core stand for concurrent checkouts, whose commits
// share fsyncs.
func BenchmarkCapturePath(b *testing.B) {
	h := newBenchHandler(b)
	b.SetParallelism(32)
	benchServe(b, h, "application/json", true)
}

// BenchmarkBaseline is the same request and upstream without the module.
// BenchmarkCaptureAlone: one sale at a time, the whole of it: response,
// reading and a commit (fsync) that shares with no other.
func BenchmarkCaptureAlone(b *testing.B) {
	benchServe(b, newBenchHandler(b), "application/json", false)
}

func BenchmarkBaseline(b *testing.B) {
	benchServe(b, nil, "application/json", true)
}

// BenchmarkPassThroughPath: the module is on the route, but the response
// is not a candidate (HTML): nothing is copied or parsed.
func BenchmarkPassThroughPath(b *testing.B) {
	benchServe(b, newBenchHandler(b), "text/html", true)
}

// BenchmarkConditionNotMet: JSON that is copied and checked but is not a
// sale (an unpaid order).
func BenchmarkConditionNotMet(b *testing.B) {
	h := newBenchHandler(b)
	h.spec.When[0].Values = []string{"never"}
	benchServe(b, h, "application/json", true)
}

// BenchmarkTeeWriter measures the writer alone on a 2 KB JSON body.
func BenchmarkTeeWriter(b *testing.B) {
	body := fake.Order("inv_1", "paid")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		tw := newTeeWriter(discardWriter{http.Header{"Content-Type": {"application/json"}}}, DefaultMaxBody, wantAll)
		tw.WriteHeader(200)
		tw.Write(body)
		tw.releaseBuffer()
	}
}

// BenchmarkDecodeGzip measures decoding the copy of a 2 KB gzip body into
// a pooled buffer sized by the gzip trailer.
func BenchmarkDecodeGzip(b *testing.B) {
	body := fake.Order("inv_1", "paid")
	raw := fake.Compress("gzip", body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		got, release, err := decodeBody("gzip", raw, DefaultMaxBody)
		if err != nil || len(got) != len(body) {
			b.Fatal(err)
		}
		release()
	}
}

type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}
