// Package contentenc compresses a body in an HTTP Content-Encoding, the
// ones the sale_track handler decodes: for `caddy sale-track try`, which
// compresses a body so that the real decoder runs, and for tests.
package contentenc

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// Encode returns data in the Content-Encoding named: gzip, deflate (zlib,
// as HTTP means it), br or zstd; "" and identity return data unchanged.
// Any other name is an error.
func Encode(encoding string, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	var w io.WriteCloser
	switch strings.ToLower(encoding) {
	case "", "identity":
		return data, nil
	case "gzip", "x-gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "br":
		w = brotli.NewWriter(&buf)
	case "zstd":
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		w = zw
	default:
		return nil, fmt.Errorf("content encoding %q: want gzip, deflate, br or zstd", encoding)
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
