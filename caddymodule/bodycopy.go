package caddymodule

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// bodyCopy sits in place of a request body: the upstream reads the body
// exactly as it came, and a bounded copy is kept for the webhook mode. It
// never reads ahead of the upstream, so it neither consumes nor delays the
// body.
//
// The reverse proxy's transport reads the body from its own goroutine and
// may go on reading after the handler has returned (an upstream that
// answers 403 before reading everything): so every field is guarded, and
// once detached the copy steps aside and passes bytes straight through.
type bodyCopy struct {
	io.ReadCloser
	limit int64

	mu       sync.Mutex
	buf      bytes.Buffer // not pooled: a late Read may still touch it
	overflow bool
	complete bool // the upstream read to EOF: the copy is the whole body
	detached bool
}

func newBodyCopy(body io.ReadCloser, limit int64) *bodyCopy {
	return &bodyCopy{ReadCloser: body, limit: limit}
}

func (b *bodyCopy) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.detached {
		return n, err
	}
	if n > 0 && !b.overflow {
		if int64(b.buf.Len()+n) > b.limit {
			b.overflow = true
			b.buf = bytes.Buffer{}
		} else {
			b.buf.Write(p[:n])
		}
	}
	if errors.Is(err, io.EOF) {
		b.complete = true
	}
	return n, err
}

// result detaches the copy and returns the whole body, or nil when it was
// cut short, and whether it was too large. Reads after this pass through.
func (b *bodyCopy) result() (body []byte, overflow bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.detached = true
	if !b.complete || b.overflow {
		return nil, b.overflow
	}
	return b.buf.Bytes(), false
}
