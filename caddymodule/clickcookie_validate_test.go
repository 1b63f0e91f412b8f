package caddymodule

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Each rule of click_cookie fails `caddy adapt` on the line it is broken
// on.
func TestClickCookieRules(t *testing.T) {
	tests := []struct {
		input string
		line  int
		want  string
	}{
		{"click_cookie {\n domain \"shop example.com;x\"\n}", 2, `domain "shop example.com;x": not a cookie domain; net/http would drop it from every Set-Cookie`},
		{"click_cookie {\n domain ::1\n}", 2, `domain "::1": not a cookie domain`},
		{"click_cookie {\n domain shop_example.com\n}", 2, `domain "shop_example.com": not a cookie domain`},
		{"click_cookie {\n max_age 500ms\n}", 2, `max_age "500ms": want at least 1s`},
		{"click_cookie {\n max_age 0s\n}", 2, `max_age "0s": want at least 1s`},
		{"click_cookie {\n cookie \"a b\"\n}", 2, `cookie name "a b" is not a valid token`},
		{"click_cookie {\n same_site Sometimes\n}", 2, `same_site "Sometimes": want lax, strict or none`},
		{"click_cookie {\n cookie __Host-click\n domain example.com\n}", 3, `cookie "__Host-click" with domain "example.com": browsers refuse a __Host- cookie that names a domain`},
		{"click_cookie {\n domain example.com\n max_age 1h\n cookie __host-click\n}", 4, `cookie "__host-click" with domain "example.com": browsers refuse`},
	}
	for _, tt := range tests {
		var c ClickCookie
		err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
		checkParseError(t, tt.input, err, tt.line, tt.want)
	}
}

// Validate applies the same rules to a JSON config.
func TestClickCookieValidateRefuses(t *testing.T) {
	tests := []struct{ json, want string }{
		{`{"domain":"shop example.com;x"}`, `domain "shop example.com;x": not a cookie domain`},
		{`{"max_age":"500ms"}`, `max_age 500ms: want at least 1s`},
		{`{"max_age":-1}`, `max_age -1ns: want at least 1s`},
		{`{"cookie":"a;b"}`, `cookie name "a;b" is not a valid token`},
		{`{"same_site":"sometimes"}`, `same_site "sometimes": want lax, strict or none`},
		{`{"cookie":"__Host-click","domain":"example.com"}`, `cookie "__Host-click" with domain "example.com": browsers refuse`},
	}
	for _, tt := range tests {
		var c ClickCookie
		if err := json.Unmarshal([]byte(tt.json), &c); err != nil {
			t.Fatal(err)
		}
		err := c.Provision(caddy.Context{})
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: provision and validate = %v, want %q", tt.json, err, tt.want)
		}
	}
}

// A domain passes validation exactly when the Set-Cookie carries it.
func TestClickCookieDomainAgreesWithNetHTTP(t *testing.T) {
	// net/http logs each domain it drops; that is expected here.
	log.SetOutput(io.Discard)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	for _, domain := range []string{
		"example.com", ".example.com", "shop.example.co.uk", "localhost", "127.0.0.1", "xn--bcher-kva.example",
		"shop example.com;x", "exa_mple.com", "::1", "[::1]", "example..com", "-example.com", "example.com.",
		"bücher.example", strings.Repeat("a", 64) + ".example",
	} {
		c := &ClickCookie{Domain: domain}
		if err := c.Provision(caddy.Context{}); err != nil {
			t.Fatal(err)
		}
		err := c.Validate()
		w := httptest.NewRecorder()
		if err := c.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/?cms_rf=cl_1", nil), next); err != nil {
			t.Fatal(err)
		}
		set := w.Header().Get("Set-Cookie")
		if carried := strings.Contains(set, "; Domain="); carried != (err == nil) {
			t.Errorf("domain %q: validate = %v, but the Set-Cookie is %q", domain, err, set)
		}
	}
}
