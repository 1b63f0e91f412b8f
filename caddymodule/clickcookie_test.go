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

	"github.com/saletrack/caddy-saletrack/sale"
)

// clickApp is what click_cookie takes from the sale_track app; the zero
// value is a config without the app.
type clickApp struct{ platform, attribution string }

// serveClick provisions c as under app and runs it on r in front of an
// upstream that sets its own cookie, and returns the Set-Cookie headers
// and {http.vars.click_id} as the upstream saw it.
func serveClick(t *testing.T, c *ClickCookie, app clickApp, r *http.Request) ([]string, any) {
	t.Helper()
	var err error
	if app == (clickApp{}) {
		err = c.Provision(caddy.Context{})
	} else {
		platform, lerr := sale.LookupPlatform(app.platform)
		if lerr != nil {
			t.Fatal(lerr)
		}
		err = c.provision(platform, app.attribution)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
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

// clickRequest is a GET of target, over TLS if https, carrying the
// cookies given (as a Cookie header, "" for none).
func clickRequest(target string, https bool, cookies string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if https {
		r.TLS = &tls.ConnectionState{}
	}
	if cookies != "" {
		r.Header.Set("Cookie", cookies)
	}
	return r
}

// checkClick compares what serveClick returned with the click cookie
// wanted ("" for none) and the variable wanted (nil for none).
func checkClick(t *testing.T, cookies []string, seen any, wantCookie string, wantVar any) {
	t.Helper()
	want := []string{"session=abc; Path=/"}
	if wantCookie != "" {
		want = []string{wantCookie, "session=abc; Path=/"}
	}
	if strings.Join(cookies, "\n") != strings.Join(want, "\n") {
		t.Errorf("Set-Cookie:\n got %q\nwant %q", cookies, want)
	}
	if seen != wantVar {
		t.Errorf("{http.vars.click_id} = %v, want %v", seen, wantVar)
	}
}

// The options and the id rule, under the default platform (CutMeShort)
// and with no sale_track app configured.
func TestClickCookie(t *testing.T) {
	no := false
	tests := []struct {
		name    string
		cfg     ClickCookie
		app     clickApp
		target  string
		https   bool
		cookie  string // the click cookie expected, "" for none
		varWant any
	}{
		{
			name:    "defaults",
			target:  "/landing?utm_source=x&cms_rf=cl_42",
			cookie:  "cms_rf=cl_42; Path=/; Max-Age=7776000; HttpOnly; SameSite=Lax",
			varWant: "cl_42",
		},
		{
			name:    "secure on https",
			target:  "/?cms_rf=a.b_c~d-e",
			https:   true,
			cookie:  "cms_rf=a.b_c~d-e; Path=/; Max-Age=7776000; HttpOnly; Secure; SameSite=Lax",
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
			app:     clickApp{platform: "generic"},
			target:  "/?cid=bad%20value&clickId=good",
			cookie:  "clickId=good; Path=/; Max-Age=7776000; HttpOnly; SameSite=Lax",
			varWant: "good",
		},
		{name: "invalid characters are ignored", target: "/?cms_rf=%3Cscript%3E", varWant: nil},
		{name: "header injection is ignored", target: "/?cms_rf=a%0d%0aSet-Cookie:%20x=y", varWant: nil},
		{name: "over-long value is ignored", target: "/?cms_rf=" + strings.Repeat("a", sale.MaxClickIDLength+1), varWant: nil},
		{name: "empty value is ignored", target: "/?cms_rf=", varWant: nil},
		{name: "no query", target: "/", varWant: nil},
		{
			name:    "the longest id is fine",
			target:  "/?cms_rf=" + strings.Repeat("a", sale.MaxClickIDLength),
			cookie:  "cms_rf=" + strings.Repeat("a", sale.MaxClickIDLength) + "; Path=/; Max-Age=7776000; HttpOnly; SameSite=Lax",
			varWant: strings.Repeat("a", sale.MaxClickIDLength),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cookies, seen := serveClick(t, &cfg, tt.app, clickRequest(tt.target, tt.https, ""))
			checkClick(t, cookies, seen, tt.cookie, tt.varWant)
		})
	}
}
