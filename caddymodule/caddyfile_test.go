package caddymodule

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestHandlerCaddyfileErrors(t *testing.T) {
	tests := []struct {
		input string
		line  int
		want  string
	}{
		{"sale_track {\n amount a\n bogus x\n}", 3, `unknown subdirective "bogus"`},
		{"sale_track {\n amount order..total\n}", 2, `amount: gjson path "order..total": empty component`},
		{"sale_track {\n when items.#(sku\n}", 2, `when: gjson path "items.#(sku": unclosed`},
		{"sale_track {\n max_body lots\n}", 2, `max_body "lots"`},
		{"sale_track {\n status 2xy\n}", 2, `status: "2xy"`},
		{"sale_track {\n status 700\n}", 2, `status: "700"`},
		{"sale_track {\n default_currency EURO\n}", 2, `default_currency: "EURO" is not an ISO 4217 currency code`},
		{"sale_track {\n click_id ref:{http.request.uri.path.2}\n}", 2, `click_id: "ref:{http.request.uri.path.2}": a checkout reference is a field of its own: write ` + "`ref {http.request.uri.path.2}`"},
		{"sale_track {\n amount_unit cents\n}", 2, `amount unit "cents": want major or minor`},
		{"sale_track {\n source body\n}", 2, `source "body": want response or request`},
		{"sale_track {\n amount\n}", 2, `wrong argument count`},
		{"sale_track nosuch", 1, `unknown preset "nosuch"`},
		{"sale_track {\n event a b\n}", 2, `wrong argument count`},
		{"sale_track {\n currency order.currency\n}", 1, `sale_track: amount is required (or a preset that gives it)`},
		{"sale_track {\n amount order.total\n}", 1, `sale_track: customer_id is required (or a preset that gives it)`},
	}
	for _, tt := range tests {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
		checkParseError(t, tt.input, err, tt.line, tt.want)
	}
}

func TestGlobalOptionCaddyfileErrors(t *testing.T) {
	tests := []struct {
		input string
		line  int
		want  string
	}{
		{"sale_track {\n endpoint ftp://x\n}", 2, `endpoint "ftp://x": want an http:// or https:// URL`},
		{"sale_track {\n endpoint https://user:hunter2@x/y\n bogus\n}", 3, `unknown sale_track option "bogus"`},
		{"sale_track {\n concurrency 0\n}", 2, `concurrency "0"`},
		{"sale_track {\n backoff_cap forever\n}", 2, `backoff_cap "forever"`},
		{"sale_track {\n max_storage 10KB\n}", 2, `max_storage "10KB"`},
		{"sale_track {\n fx_rate AED\n}", 2, `wrong argument count`},
		{"sale_track {\n fx_rate XXQ 1\n}", 2, `fx_rate: "XXQ" is not an ISO 4217 currency code`},
		{"sale_track {\n fx_rate AED -1\n}", 2, `fx_rate AED: "-1" is not a positive decimal`},
		{"sale_track {\n send_usd maybe\n}", 2, `send_usd "maybe"`},
	}
	for _, tt := range tests {
		var a App
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
		checkParseError(t, tt.input, err, tt.line, tt.want)
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks the endpoint's password: %v", err)
		}
	}
}

func TestClickCookieCaddyfileErrors(t *testing.T) {
	tests := []struct {
		input string
		line  int
		want  string
	}{
		{"click_cookie {\n same_site sometimes\n}", 2, `same_site "sometimes"`},
		{"click_cookie {\n http_only yes\n}", 2, `http_only "yes"`},
		{"click_cookie {\n cookie a;b\n}", 2, `cookie name "a;b"`},
		{"click_cookie {\n max_age -1h\n}", 2, `max_age "-1h"`},
		{"click_cookie {\n flavour x\n}", 2, `unknown subdirective "flavour"`},
	}
	for _, tt := range tests {
		var c ClickCookie
		err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
		checkParseError(t, tt.input, err, tt.line, tt.want)
	}
}

// checkParseError asserts a config mistake fails with its message and the
// line it is on, as `caddy adapt` prints it.
func checkParseError(t *testing.T, input string, err error, line int, want string) {
	t.Helper()
	at := fmt.Sprintf(", at Testfile:%d", line)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.HasSuffix(err.Error(), at) {
		t.Errorf("%q:\n got %v\nwant %s%s", input, err, want, at)
	}
}

// Global placeholders in URLs are resolved at provision, as in api_key.
func TestAppResolvesPlaceholdersInURLs(t *testing.T) {
	t.Setenv("SALETRACK_TEST_ENDPOINT", "https://platform.example/v1/track/sale")
	var a App
	if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("sale_track {\n platform generic\n endpoint {env.SALETRACK_TEST_ENDPOINT}\n}")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Validate(); err != nil || a.Endpoint != "https://platform.example/v1/track/sale" {
		t.Fatalf("endpoint %q, validate: %v", a.Endpoint, err)
	}
}
