package jsonwrite

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// trickyStrings are the strings encoding/json escapes in some way.
var trickyStrings = []string{
	"", "plain", `quote " and back\slash`, "<script>&amp;</script>",
	"tab\t nl\n cr\r bs\b ff\f nul\x00 esc\x1b del\x7f",
	"invalid \xff utf8 \xc3", "truncated \xe2\x82", "line\u2028para\u2029",
	"Zoë Ærø 日本語 🛒", strings.Repeat("é", 300),
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	inputs := append([]string(nil), trickyStrings...)
	for b := 0; b < 256; b++ {
		inputs = append(inputs, string([]byte{byte(b)}), "a"+string([]byte{byte(b)})+"z")
	}
	for _, s := range inputs {
		want, _ := json.Marshal(s)
		if got := String(nil, s); !bytes.Equal(got, want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := String(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}
