package caddymodule

import (
	"bytes"
	"errors"
	"io"
)

// bodyCopy sits in place of a request body: the upstream reads the body
// exactly as it came, and a bounded copy is kept for the webhook mode. It
// never reads ahead of the upstream, so it neither consumes nor delays the
// body.
type bodyCopy struct {
	io.ReadCloser
	limit    int64
	buf      *bytes.Buffer
	overflow bool
	complete bool // the upstream read to EOF: the copy is the whole body
}

func newBodyCopy(body io.ReadCloser, limit int64) *bodyCopy {
	return &bodyCopy{ReadCloser: body, limit: limit, buf: bufferPool.Get().(*bytes.Buffer)}
}

func (b *bodyCopy) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 && !b.overflow {
		if int64(b.buf.Len()+n) > b.limit {
			b.overflow = true
			b.buf.Reset()
		} else {
			b.buf.Write(p[:n])
		}
	}
	if errors.Is(err, io.EOF) {
		b.complete = true
	}
	return n, err
}

// body returns the whole copied body, or nil when it was cut short or too
// large.
func (b *bodyCopy) body() []byte {
	if !b.complete || b.overflow {
		return nil
	}
	return b.buf.Bytes()
}

func (b *bodyCopy) release() {
	if b.buf != nil && b.buf.Cap() <= 4<<20 {
		b.buf.Reset()
		bufferPool.Put(b.buf)
	}
	b.buf = nil
}
