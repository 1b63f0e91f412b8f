package caddymodule

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// serveClick runs the handler in front of an upstream that sets its own
// cookie, and returns the Set-Cookie headers and {http.vars.click_id} as
// the upstream saw it.
func serveClick(t *testing.T, c *ClickCookie, target string, https bool) ([]string, any) {
	t.Helper()
	if err := c.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if https {
		r.TLS = &tls.ConnectionState{}
	}
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
	w := httptest.NewRecorder()
	var seen any
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		seen = caddyhttp.GetVar(r.Context(), "click_id")
		w.Header().Add("Set-Cookie", "session=abc; Path=/")
		return nil
	})
	if err := c.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	return w.Result().Header.Values("Set-Cookie"), seen
}

func TestClickCookie(t *testing.T) {
	no := false
	tests := []struct {
		name    string
		cfg     ClickCookie
		target  string
		https   bool
		cookie  string // the click cookie expected, "" for none
		varWant any
	}{
		{
			name:    "defaults",
			target:  "/landing?utm_source=x&clickId=cl_42",
			cookie:  "clickId=cl_42; Path=/; Max-Age=7776000; HttpOnly; SameSite=Lax",
			varWant: "cl_42",
		},
		{
			name:    "secure on https",
			target:  "/?clickId=a.b_c~d-e",
			https:   true,
			cookie:  "clickId=a.b_c~d-e; Path=/; Max-Age=7776000; HttpOnly; Secure; SameSite=Lax",
			varWant: "a.b_c~d-e",
		},
		{
			name:    "all options",
			cfg:     ClickCookie{Params: []string{"cid", "clickId"}, Cookie: "st", MaxAge: caddy.Duration(3600e9), Domain: "example.com", SameSite: "none", HTTPOnly: &no},
			target:  "/?clickId=second&cid=first",
			cookie:  "st=first; Path=/; Domain=example.com; Max-Age=3600; Secure; SameSite=None",
			varWant: "first",
		},
		{
			name:    "first valid parameter wins",
			cfg:     ClickCookie{Params: []string{"cid", "clickId"}},
			target:  "/?cid=bad%20value&clickId=good",
			cookie:  "clickId=good; Path=/; Max-Age=7776000; HttpOnly; SameSite=Lax",
			varWant: "good",
		},
		{name: "invalid characters are ignored", target: "/?clickId=%3Cscript%3E", varWant: nil},
		{name: "header injection is ignored", target: "/?clickId=a%0d%0aSet-Cookie:%20x=y", varWant: nil},
		{name: "over-long value is ignored", target: "/?clickId=" + strings.Repeat("a", 129), varWant: nil},
		{name: "empty value is ignored", target: "/?clickId=", varWant: nil},
		{name: "no query", target: "/", varWant: nil},
		{
			name:    "128 characters are fine",
			target:  "/?clickId=" + strings.Repeat("a", 128),
			cookie:  "clickId=" + strings.Repeat("a", 128) + "; Path=/; Max-Age=7776000; HttpOnly; SameSite=Lax",
			varWant: strings.Repeat("a", 128),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cookies, seen := serveClick(t, &cfg, tt.target, tt.https)
			want := []string{"session=abc; Path=/"}
			if tt.cookie != "" {
				want = []string{tt.cookie, "session=abc; Path=/"}
			}
			if strings.Join(cookies, "\n") != strings.Join(want, "\n") {
				t.Errorf("Set-Cookie:\n got %q\nwant %q", cookies, want)
			}
			if seen != tt.varWant {
				t.Errorf("{http.vars.click_id} = %v, want %v", seen, tt.varWant)
			}
		})
	}
}
