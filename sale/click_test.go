package sale

import (
	"strings"
	"testing"
)

// The ids the platforms make pass; anything that would need escaping in a
// header, a cookie or a JSON string does not.
func TestValidClickID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		// CutMeShort: a UUID (any case) or a token of [A-Za-z0-9_-].
		{"550e8400-e29b-41d4-a716-446655440000", true},
		{"550E8400-E29B-41D4-A716-446655440000", true},
		{"google_cpc", true},
		{"fb-ads_2026", true},
		// Dub: nanoid(16) over the 62 alphanumerics.
		{"Xk3L9pQ2mZ7bT1aV", true},
		{"0123456789abcdef", true},
		// The rest of the URL-safe set, and the bounds.
		{"a.b_c~d-e", true},
		{"a", true},
		{strings.Repeat("a", MaxClickIDLength), true},
		{strings.Repeat("a", MaxClickIDLength+1), false},
		{"", false},
		{"cl 42", false},
		{"cl+42", false},
		{"cl%2042", false},
		{"a/b", false},
		{"a=b", false},
		{"a;b", false},
		{"a,b", false},
		{`a"b`, false},
		{"<script>", false},
		{"a\r\nSet-Cookie: x=y", false},
		{"cl_\u00e9", false},
		{"cl_42\x00", false},
	}
	for _, tt := range tests {
		if got := ValidClickID(tt.id); got != tt.want {
			t.Errorf("ValidClickID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
	// CutMeShort's SDKs take up to 255 characters; none of them is lost.
	if MaxClickIDLength < 255 {
		t.Errorf("MaxClickIDLength = %d, below CutMeShort's 255", MaxClickIDLength)
	}
}
