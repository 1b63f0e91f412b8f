package contentenc

import (
	"bytes"
	"io"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// Each encoding reads back, through its own decoder, as the data.
func TestEncodeRoundTrips(t *testing.T) {
	data := bytes.Repeat([]byte(`{"order":{"total":"199.00"}}`), 50)
	readers := map[string]func(io.Reader) (io.Reader, error){
		"":        func(r io.Reader) (io.Reader, error) { return r, nil },
		"gzip":    func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
		"deflate": func(r io.Reader) (io.Reader, error) { return zlib.NewReader(r) },
		"br":      func(r io.Reader) (io.Reader, error) { return brotli.NewReader(r), nil },
		"zstd": func(r io.Reader) (io.Reader, error) {
			d, err := zstd.NewReader(r)
			return d, err
		},
	}
	for enc, newReader := range readers {
		out, err := Encode(enc, data)
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		if enc != "" && bytes.Equal(out, data) {
			t.Fatalf("%s: not encoded", enc)
		}
		r, err := newReader(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		back, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("%s: read back %d bytes, %v", enc, len(back), err)
		}
	}
	if _, err := Encode("lz4", data); err == nil {
		t.Fatal("lz4: no error")
	}
}
