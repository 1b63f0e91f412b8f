package caddymodule

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// teeWriter passes every byte, header, flush and hijack straight through to
// the client and, for a response that may be a sale, keeps a bounded copy
// of the body on the side. It holds nothing back, so it adds nothing to the
// time to first byte, except in hold mode (see hold), which the webhook
// mode uses.
type teeWriter struct {
	// Embedded by value: one allocation per request instead of two.
	caddyhttp.ResponseWriterWrapper

	// wants decides at WriteHeader time whether this response is worth
	// copying; nil means never copy (the request-body mode only needs the
	// status).
	wants func(status int, header http.Header) bool
	limit int64

	status      int
	wroteHeader bool
	capturing   bool
	overflow    bool
	buf         *bytes.Buffer

	// holding keeps the final status and the body from the client until
	// release; held is the body so far, at most heldLimit bytes.
	holding   bool
	held      *bytes.Buffer
	heldLimit int64
}

// maxHeldResponse bounds a held response: a webhook's acknowledgement is
// a few bytes. A larger one is let through as it comes.
const maxHeldResponse = 64 << 10

// hold keeps the final status, headers and body from the client until
// release: a payment provider retries a webhook until it gets a 2xx, so
// the shop's 2xx must not leave before the sale is on disk. Informational
// (1xx) statuses pass at once, and Flush waits for release too, so a
// flush cannot send a status early (compare Caddy issue 6144). A body past
// maxHeldResponse releases what is held and streams the rest.
func (w *teeWriter) hold() {
	w.holding = true
	w.heldLimit = maxHeldResponse
}

// release sends what hold kept back, unchanged; later writes pass straight
// through. Without a final status written, net/http's implicit one follows.
func (w *teeWriter) release() {
	if !w.holding {
		return
	}
	w.holding = false
	if w.wroteHeader {
		w.ResponseWriter.WriteHeader(w.status)
	}
	if w.held != nil {
		_, _ = w.ResponseWriter.Write(w.held.Bytes())
		putBuffer(w.held)
		w.held = nil
	}
}

var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// copyBufferPool serves io.CopyBuffer in ReadFrom: io.Copy would allocate
// 32 KiB per response.
var copyBufferPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func newTeeWriter(w http.ResponseWriter, limit int64, wants func(int, http.Header) bool) *teeWriter {
	return &teeWriter{
		ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w},
		wants:                 wants,
		limit:                 limit,
	}
}

// WriteHeader decides whether to copy the body, then passes the status on.
// Informational statuses (100 Continue, 103 Early Hints, 101 for an upgrade)
// are passed through and do not count as the final status.
func (w *teeWriter) WriteHeader(status int) {
	if !w.wroteHeader && status >= 200 {
		w.wroteHeader = true
		w.status = status
		if w.wants != nil && w.wants(status, w.Header()) {
			w.capturing = true
			w.buf = bufferPool.Get().(*bytes.Buffer)
		}
		if w.holding {
			return
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write sends p to the client first and copies what was sent.
func (w *teeWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.holding {
		return w.keepHeld(p)
	}
	n, err := w.ResponseWriter.Write(p)
	if w.capturing && n > 0 {
		w.keep(p[:n])
	}
	return n, err
}

// keep copies up to limit bytes; past it the copy is dropped at once, so
// a large response costs no memory beyond the limit.
func (w *teeWriter) keep(p []byte) {
	if w.overflow {
		return
	}
	if int64(w.buf.Len()+len(p)) > w.limit {
		w.overflow = true
		w.releaseBuffer()
		return
	}
	w.buf.Write(p)
}

// keepHeld adds p to the held body, or releases it all once it would
// pass the bound.
func (w *teeWriter) keepHeld(p []byte) (int, error) {
	if w.held == nil {
		w.held = bufferPool.Get().(*bytes.Buffer)
	}
	if int64(w.held.Len()+len(p)) > w.heldLimit {
		w.release()
		return w.Write(p)
	}
	return w.held.Write(p)
}

// ReadFrom must be ours: the promoted one would hand the reader straight to
// the inner writer (sendfile, splice) and the copy would stay empty. When
// not copying, it still goes the fast way.
func (w *teeWriter) ReadFrom(r io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if (!w.capturing || w.overflow) && !w.holding {
		return w.ResponseWriterWrapper.ReadFrom(r)
	}
	bp := copyBufferPool.Get().(*[]byte)
	defer copyBufferPool.Put(bp)
	return io.CopyBuffer(writerOnly{w}, r, *bp)
}

// writerOnly hides teeWriter's ReadFrom from io.CopyBuffer, which would
// otherwise call it again.
type writerOnly struct{ io.Writer }

// Flush passes a flush through. An implicit 200 is recorded first, as
// net/http would send it.
func (w *teeWriter) Flush() {
	_ = w.FlushError()
}

// FlushError is the flush http.ResponseController prefers.
func (w *teeWriter) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.holding {
		return nil // sent at release
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// body returns the copied body, or nil if nothing was copied.
func (w *teeWriter) body() []byte {
	if !w.capturing || w.overflow || w.buf == nil {
		return nil
	}
	return w.buf.Bytes()
}

// takeBody hands a complete copy's buffer over to the caller, who
// returns it with putBuffer. Call it only when the response was copied
// whole (capturing, not overflowed).
func (w *teeWriter) takeBody() *bytes.Buffer {
	buf := w.buf
	w.buf = nil
	if buf == nil { // a copy with nothing written yet
		buf = bufferPool.Get().(*bytes.Buffer)
	}
	return buf
}

func (w *teeWriter) releaseBuffer() {
	if w.buf == nil {
		return
	}
	putBuffer(w.buf)
	w.buf = nil
}

// putBuffer returns a buffer to bufferPool; a huge one is left to the GC.
func putBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= 4<<20 {
		buf.Reset()
		bufferPool.Put(buf)
	}
}

// isJSON accepts application/json, text/json and any +json type
// (application/problem+json, application/graphql-response+json). It runs
// on every matching response, so it reads the media type in place rather
// than through mime.ParseMediaType, which allocates a map of parameters.
func isJSON(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	return strings.EqualFold(mt, "application/json") || strings.EqualFold(mt, "text/json") ||
		(len(mt) > len("+json") && strings.EqualFold(mt[len(mt)-len("+json"):], "+json") && strings.Contains(mt, "/"))
}

// Interface guards
var (
	_ http.ResponseWriter = (*teeWriter)(nil)
	_ http.Flusher        = (*teeWriter)(nil)
	_ io.ReaderFrom       = (*teeWriter)(nil)
)
