package caddymodule

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

func TestDecodeBody(t *testing.T) {
	body := []byte(`{"order":{"id":"inv_1","total":"12.45"}}`)
	for _, enc := range []string{"", "identity", "gzip", "deflate", "br", "zstd", "GZIP"} {
		got, release, err := decodeBody(enc, fake.Compress(strings.ToLower(enc), body), 1<<20)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("%q: got %q, %v", enc, got, err)
		}
		if release != nil {
			release()
		}
	}
}

func TestDecodeBodyBoundsZipBombs(t *testing.T) {
	bomb := bytes.Repeat([]byte("0"), 50<<20) // 50 MiB of zeros compresses to ~50 KiB
	for _, enc := range []string{"gzip", "br", "zstd", "deflate"} {
		raw := fake.Compress(enc, bomb)
		if len(raw) > 1<<20 {
			t.Fatalf("%s: the bomb does not compress (%d bytes)", enc, len(raw))
		}
		_, _, err := decodeBody(enc, raw, 1<<20)
		if !errors.Is(err, errTooLarge) {
			t.Errorf("%s: err = %v, want errTooLarge", enc, err)
		}
	}
}

func TestDecodeBodyRejectsGarbage(t *testing.T) {
	for _, enc := range []string{"gzip", "br", "zstd", "deflate", "compress"} {
		if _, _, err := decodeBody(enc, []byte("not compressed at all"), 1<<20); err == nil {
			t.Errorf("%s: want an error", enc)
		}
	}
}

// The size a gzip trailer states only sizes the buffer: a trailer that
// lies, small or huge, changes neither the bytes nor the limit.
func TestDecodeBodyGzipSizeIsOnlyAHint(t *testing.T) {
	body := bytes.Repeat([]byte(`{"order":{"id":"inv_1","total":"12.45"}}`), 100)
	for _, size := range []uint32{0, 7, uint32(len(body)), 1 << 31, 0xffffffff} {
		raw := fake.Compress("gzip", body)
		binary.LittleEndian.PutUint32(raw[len(raw)-4:], size)
		got, release, err := decodeBody("gzip", raw, 1<<20)
		if size == uint32(len(body)) {
			if err != nil || !bytes.Equal(got, body) {
				t.Errorf("true size: got %d bytes, %v", len(got), err)
			}
		} else if err == nil {
			// Go's gzip reader checks the trailer: a lie is an error, and
			// the response is not a sale.
			t.Errorf("trailer says %d for %d bytes: decoded without error", size, len(body))
		}
		if release != nil {
			release()
		}
	}
	raw := fake.Compress("gzip", body)
	if got := gzipSize(raw); got != len(body) {
		t.Errorf("gzipSize = %d, want %d", got, len(body))
	}
	tiny := make([]byte, 18)
	binary.LittleEndian.PutUint32(tiny[14:], 1<<20)
	if got := gzipSize(tiny); got > 18*maxDeflateRatio {
		t.Errorf("18 bytes claiming 1 MiB: hint %d, want at most %d", got, 18*maxDeflateRatio)
	}
	if _, _, err := decodeBody("gzip", raw, int64(len(body)-1)); !errors.Is(err, errTooLarge) {
		t.Errorf("one byte over the limit: err = %v, want errTooLarge", err)
	}
}
