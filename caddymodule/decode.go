package caddymodule

import (
	"bytes"
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
// inspection only, reading at most limit decoded bytes.
func decodeBody(encoding string, raw []byte, limit int64) ([]byte, error) {
	encoding = strings.ToLower(strings.TrimSpace(encoding))
	switch encoding {
	case "", "identity":
		return raw, nil
	case "gzip", "x-gzip":
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		defer gzipReaders.Put(zr)
		if err := zr.Reset(bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return readLimited(zr, limit, "gzip")
	case "deflate":
		zr, err := zlib.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("deflate: %w", err)
		}
		defer zr.Close()
		return readLimited(zr, limit, "deflate")
	case "br":
		return readLimited(brotli.NewReader(bytes.NewReader(raw)), limit, "br")
	case "zstd":
		d, _ := zstdDecoders.Get().(*zstd.Decoder)
		if d == nil {
			return nil, errors.New("zstd: decoder unavailable")
		}
		defer zstdDecoders.Put(d)
		if err := d.Reset(bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return readLimited(d, limit, "zstd")
	}
	return nil, fmt.Errorf("unsupported Content-Encoding %q", encoding)
}

func readLimited(r io.Reader, limit int64, name string) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(out)) > limit {
		return nil, errTooLarge
	}
	return out, nil
}
