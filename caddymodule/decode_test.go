package caddymodule

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

func compress(t testing.TB, encoding string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch encoding {
	case "gzip":
		w := gzip.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case "deflate":
		w := zlib.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case "br":
		w := brotli.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case "zstd":
		w, _ := zstd.NewWriter(&buf)
		w.Write(data)
		w.Close()
	default:
		return data
	}
	return buf.Bytes()
}

func TestDecodeBody(t *testing.T) {
	body := []byte(`{"order":{"id":"inv_1","total":"12.45"}}`)
	for _, enc := range []string{"", "identity", "gzip", "deflate", "br", "zstd", "GZIP"} {
		got, err := decodeBody(enc, compress(t, strings.ToLower(enc), body), 1<<20)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("%q: got %q, %v", enc, got, err)
		}
	}
}

func TestDecodeBodyBoundsZipBombs(t *testing.T) {
	bomb := bytes.Repeat([]byte("0"), 50<<20) // 50 MiB of zeros compresses to ~50 KiB
	for _, enc := range []string{"gzip", "br", "zstd", "deflate"} {
		raw := compress(t, enc, bomb)
		if len(raw) > 1<<20 {
			t.Fatalf("%s: the bomb does not compress (%d bytes)", enc, len(raw))
		}
		_, err := decodeBody(enc, raw, 1<<20)
		if !errors.Is(err, errTooLarge) {
			t.Errorf("%s: err = %v, want errTooLarge", enc, err)
		}
	}
}

func TestDecodeBodyRejectsGarbage(t *testing.T) {
	for _, enc := range []string{"gzip", "br", "zstd", "deflate", "compress"} {
		if _, err := decodeBody(enc, []byte("not compressed at all"), 1<<20); err == nil {
			t.Errorf("%s: want an error", enc)
		}
	}
}
