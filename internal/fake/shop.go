package fake

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Shop is a fake shop upstream. Its routes:
//
//	/checkout/{id}         a paid order {id}: 200, application/json
//	/checkout/{form}/{id}  the order in one of the forms below
//	/webhooks/{name}       a webhook receiver that checks a signature: it
//	                       keeps the body (see Webhooks) and answers 200
//	                       "ok" with X-Signature: valid, else 400
//	/forbidden             403 before reading the request body, as an auth
//	                       check does
//	/upgrade               a protocol upgrade (Upgrade: echo): 101, then
//	                       each line sent comes back as "echo: " + line
//	/bytes/{n}             n bytes of JSON-typed padding, streamed with a
//	                       Content-Length
//	/                      a landing page that sets a session cookie
//
// The id "new" numbers the order itself, unique across runs. The query
// parameters total and currency replace the order's 199.00 USD.
//
// The forms: plain (201, with an X-Shop header), gzip, zstd, br, deflate
// (compressed, length known), auto (gzip when the request accepts it),
// chunked (flushed 7 bytes at a time), trailer (an X-Order-Checksum
// trailer), pending (not paid), malformed (cut short), big (2 MiB of
// padding first), declined (402), html (text/html), sse
// (text/event-stream), missing (404 with a JSON error), inhandler (auto,
// after posting the order to the platform set by SetPlatform and waiting
// for its answer, as a shop that calls the platform itself does).
type Shop struct {
	// URL is http://127.0.0.1:port.
	URL string
	// Addr is 127.0.0.1:port, for a reverse_proxy line.
	Addr string

	srv      *http.Server
	run      int64
	seq      atomic.Int64
	platform atomic.Pointer[string]
	client   *http.Client
	gzips    sync.Pool

	mu       sync.Mutex
	webhooks []string
}

// NewShop starts a shop on a loopback port the OS picks. It panics if it
// cannot listen. Close stops it.
func NewShop() *Shop {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("fake: shop: " + err.Error())
	}
	s := &Shop{Addr: lis.Addr().String(), run: time.Now().Unix(), client: &http.Client{Timeout: 10 * time.Second}}
	s.URL = "http://" + s.Addr
	mux := http.NewServeMux()
	mux.HandleFunc("/checkout/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeBody(w, http.StatusOK, "application/json", s.order(r, "paid"))
	})
	mux.HandleFunc("/checkout/{form}/{id}", s.checkout)
	mux.HandleFunc("/webhooks/{name}", s.webhook)
	mux.HandleFunc("/forbidden", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "forbidden", http.StatusForbidden)
	})
	mux.HandleFunc("/upgrade", upgrade)
	mux.HandleFunc("/bytes/{n}", padding)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "abc", Path: "/"})
		fmt.Fprint(w, "<html>landing</html>")
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(lis)
	return s
}

// Close stops the shop.
func (s *Shop) Close() { s.srv.Close() }

// SetPlatform sets where an inhandler checkout posts its order.
func (s *Shop) SetPlatform(url string) { s.platform.Store(&url) }

// Webhooks returns the bodies the webhook receiver got, in order, signed
// or not.
func (s *Shop) Webhooks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.webhooks...)
}

func (s *Shop) order(r *http.Request, status string) []byte {
	id := r.PathValue("id")
	if id == "new" {
		id = fmt.Sprintf("inv_%d_%d", s.run, s.seq.Add(1))
	}
	total, currency := r.URL.Query().Get("total"), r.URL.Query().Get("currency")
	if total == "" {
		total = "199.00"
	}
	if currency == "" {
		currency = "USD"
	}
	return order(id, status, total, currency)
}

func (s *Shop) checkout(w http.ResponseWriter, r *http.Request) {
	form := r.PathValue("form")
	status := "paid"
	if form == "pending" {
		status = "pending"
	}
	body := s.order(r, status)
	switch form {
	case "plain":
		w.Header().Set("X-Shop", "kept")
		writeBody(w, http.StatusCreated, "application/json", body)
	case "gzip", "zstd", "br", "deflate":
		w.Header().Set("Content-Encoding", form)
		writeBody(w, http.StatusOK, "application/json", Compress(form, body))
	case "auto":
		s.writeAuto(w, r, body)
	case "chunked":
		w.Header().Set("Content-Type", "application/json")
		for i := 0; i < len(body); i += 7 {
			w.Write(body[i:min(i+7, len(body))])
			w.(http.Flusher).Flush()
		}
	case "trailer":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Trailer", "X-Order-Checksum")
		w.Write(body)
		w.Header().Set("X-Order-Checksum", "c0ffee")
	case "pending":
		writeBody(w, http.StatusOK, "application/json", body)
	case "malformed":
		writeBody(w, http.StatusOK, "application/json", body[:len(body)/2])
	case "big":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"pad":"%s",%s`, strings.Repeat("x", 2<<20), body[1:])
	case "declined":
		writeBody(w, http.StatusPaymentRequired, "application/json", body)
	case "html":
		writeBody(w, http.StatusOK, "text/html", body)
	case "sse":
		writeBody(w, http.StatusOK, "text/event-stream", fmt.Appendf(nil, "data: %s\n\n", body))
	case "missing":
		writeBody(w, http.StatusNotFound, "application/json", []byte(`{"error":"not found"}`))
	case "inhandler":
		if err := s.notify(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		s.writeAuto(w, r, body)
	default:
		http.Error(w, "no such form: "+form, http.StatusNotFound)
	}
}

// notify posts the order to the platform and waits for its answer.
func (s *Shop) notify(body []byte) error {
	url := s.platform.Load()
	if url == nil {
		return fmt.Errorf("no platform set")
	}
	resp, err := s.client.Post(*url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// writeAuto gzips body when the request accepts it. The writers are
// pooled: the benchmark counts this process's CPU time per request.
func (s *Shop) writeAuto(w http.ResponseWriter, r *http.Request, body []byte) {
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		zw, _ := s.gzips.Get().(*gzip.Writer)
		if zw == nil {
			zw, _ = gzip.NewWriterLevel(nil, gzip.BestSpeed)
		}
		var buf bytes.Buffer
		zw.Reset(&buf)
		zw.Write(body)
		zw.Close()
		s.gzips.Put(zw)
		w.Header().Set("Content-Encoding", "gzip")
		body = buf.Bytes()
	}
	writeBody(w, http.StatusOK, "application/json", body)
}

// writeBody answers body with its length known.
func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func (s *Shop) webhook(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.webhooks = append(s.webhooks, string(body))
	s.mu.Unlock()
	if r.Header.Get("X-Signature") != "valid" {
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "ok")
}

func upgrade(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "echo" {
		http.Error(w, "want Upgrade: echo", http.StatusBadRequest)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	rw.Flush()
	for {
		line, err := rw.ReadString('\n')
		if err != nil {
			return
		}
		rw.WriteString("echo: " + line)
		rw.Flush()
	}
}

func padding(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
	if err != nil || n < 0 {
		http.Error(w, "want a byte count", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	for n > 0 {
		k := min(n, int64(len(chunk)))
		if _, err := w.Write(chunk[:k]); err != nil {
			return
		}
		n -= k
	}
}
