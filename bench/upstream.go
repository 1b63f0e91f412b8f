package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// orderItems pads an order to a realistic ~2 KB.
var orderItems = strings.TrimSuffix(strings.Repeat(`{"sku":"SKU-123456","name":"A product with a fairly long descriptive name","qty":1,"price":"16.58","tax":"0.00","meta":{"color":"blue","size":"M"}},`, 12), ",")

// upstream is the benchmark's shop: each checkout answers a new order.
type upstream struct {
	seq      atomic.Int64
	platform string // for the in-handler alternative
	client   *http.Client
	gzips    sync.Pool
}

func (u *upstream) order(status string) []byte {
	id := u.seq.Add(1)
	return []byte(fmt.Sprintf(`{"order":{"id":"inv_%d_%d","status":%q,"total":"199.00","currency":"USD","created_at":"2026-04-10T12:45:10Z","customer":{"id":"user_%d","email":"alex@example.com","first_name":"Alex","last_name":"Johnson"},"items":[%s],"shipping":{"method":"standard","address":{"line1":"1 Main Street","city":"Springfield","zip":"12345","country":"US"}}}}`,
		runID, id, status, id%1000, orderItems))
}

func (u *upstream) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/checkout", func(w http.ResponseWriter, r *http.Request) {
		u.writeJSON(w, r, u.order("paid"))
	})
	mux.HandleFunc("/unpaid", func(w http.ResponseWriter, r *http.Request) {
		u.writeJSON(w, r, u.order("pending"))
	})
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(u.order("paid"))
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":"not found"}`))
	})
	// The usual alternative: the shop calls the platform itself before it
	// answers the checkout.
	mux.HandleFunc("/checkout-inhandler", func(w http.ResponseWriter, r *http.Request) {
		body := u.order("paid")
		resp, err := u.client.Post(u.platform, "application/json", bytes.NewReader(body))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		u.writeJSON(w, r, body)
	})
	// 1 GiB of JSON-typed bytes, streamed.
	mux.HandleFunc("/large", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(1<<30))
		chunk := bytes.Repeat([]byte("x"), 1<<20)
		for i := 0; i < 1<<10; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	return mux
}

func (u *upstream) writeJSON(w http.ResponseWriter, r *http.Request, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		zw, _ := u.gzips.Get().(*gzip.Writer)
		if zw == nil {
			zw, _ = gzip.NewWriterLevel(nil, gzip.BestSpeed)
		}
		var buf bytes.Buffer
		zw.Reset(&buf)
		zw.Write(body)
		zw.Close()
		u.gzips.Put(zw)
		w.Header().Set("Content-Encoding", "gzip")
		body = buf.Bytes()
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.Write(body)
}

// serve starts h on a loopback port and returns its address.
func serve(h http.Handler) (string, func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(lis)
	return lis.Addr().String(), func() { srv.Close() }
}
