package caddymodule

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// errTooLarge means the decoded body passed max_body: a zip bomb, or a
// response too big to be a checkout.
var errTooLarge = errors.New("decoded body is larger than max_body")

// zstdDecoders are reused: a zstd decoder is costly to build. Each is
// bounded in memory so a hostile frame cannot ask for gigabytes.
var zstdDecoders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20), zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil
	}
	return d
}}

// gzipReaders are reused: most upstreams answer browsers with gzip, and a
// new reader per response allocates its window each time.
var gzipReaders sync.Pool

// decodeBody undoes a Content-Encoding on a copy of the body, for
// inspection only, reading at most limit decoded bytes. The decoded bytes
// live in a pooled buffer: call release once nothing reads them any more
// (the extracted event holds copies of its fields).
func decodeBody(encoding string, raw []byte, limit int64) (body []byte, release func(), err error) {
	encoding = strings.ToLower(strings.TrimSpace(encoding))
	switch encoding {
	case "", "identity":
		return raw, func() {}, nil
	case "gzip", "x-gzip":
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		defer gzipReaders.Put(zr)
		if err := zr.Reset(bytes.NewReader(raw)); err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return readLimited(zr, limit, gzipSize(raw), "gzip")
	case "deflate":
		zr, err := zlib.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, nil, fmt.Errorf("deflate: %w", err)
		}
		defer zr.Close()
		return readLimited(zr, limit, 0, "deflate")
	case "br":
		return readLimited(brotli.NewReader(bytes.NewReader(raw)), limit, 0, "br")
	case "zstd":
		d, _ := zstdDecoders.Get().(*zstd.Decoder)
		if d == nil {
			return nil, nil, errors.New("zstd: decoder unavailable")
		}
		defer zstdDecoders.Put(d)
		if err := d.Reset(bytes.NewReader(raw)); err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return readLimited(d, limit, 0, "zstd")
	}
	return nil, nil, fmt.Errorf("unsupported Content-Encoding %q", encoding)
}

// maxDeflateRatio is the most deflate can expand its input.
const maxDeflateRatio = 1032

// gzipSize is the decoded size a gzip member states in its last four
// bytes (modulo 4 GiB): a hint for the buffer, never trusted as a limit,
// and believed only as far as deflate can expand what there is, so a few
// bytes claiming max_body cannot make the buffer that large.
func gzipSize(raw []byte) int {
	if len(raw) < 18 { // a header and a trailer at the least
		return 0
	}
	return min(int(binary.LittleEndian.Uint32(raw[len(raw)-4:])), maxDeflateRatio*len(raw))
}

// readLimited decodes r into a pooled buffer, sized up front by hint when
// it is plausible, so the bytes are not copied as the buffer grows.
func readLimited(r io.Reader, limit int64, hint int, name string) ([]byte, func(), error) {
	buf := bufferPool.Get().(*bytes.Buffer)
	release := func() { putBuffer(buf) }
	if hint <= 0 || int64(hint) > limit {
		hint = bytes.MinRead
	}
	buf.Grow(hint + bytes.MinRead) // ReadFrom wants MinRead spare to read the EOF without growing
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		release()
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(buf.Len()) > limit {
		release()
		return nil, nil, errTooLarge
	}
	return buf.Bytes(), release, nil
}
