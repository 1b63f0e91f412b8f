package caddymodule

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Each rule of the global block fails `caddy adapt` on the line it is
// broken on, as `caddy validate` and Start would.
func TestGlobalOptionRules(t *testing.T) {
	const backoff = `backoff_cap (15m0s) is shorter than backoff_base (20m0s)`
	tests := []struct {
		input string
		line  int
		want  string
	}{
		{"sale_track {\n fx_rate USD 1\n}", 2, `fx_rate USD: USD converts to itself and takes no rate`},
		{"sale_track {\n fx_rate AED 0e5\n}", 2, `fx_rate AED: "0e5" is not a positive decimal`},
		{"sale_track {\n fx_rate AED 0.0e3\n}", 2, `fx_rate AED: "0.0e3" is not a positive decimal`},
		{"sale_track {\n fx_rate AED 0,27\n}", 2, `fx_rate AED: "0,27" is not a number`},
		{"sale_track {\n fx_rate AED 0.27\n fx_rate aed 0.28\n}", 3, `fx_rate AED: given twice`},
		{"sale_track {\n max_storage 10EiB\n}", 2, `max_storage "10EiB": want a size from 1MiB to 8EiB, such as 1GiB`},
		{"sale_track {\n max_storage 1023KiB\n}", 2, `max_storage "1023KiB": want a size from 1MiB to 8EiB`},
		{"sale_track {\n concurrency 257\n}", 2, `concurrency "257": want a number from 1 to 256`},
		{"sale_track {\n concurrency 2\n recent 0\n}", 3, `recent "0": want a number from 1 to 100000`},
		{"sale_track {\n recent many\n}", 2, `recent "many": want a number from 1 to 100000`},
		{"sale_track {\n send_timeout 0s\n}", 2, `send_timeout "0s": want a positive duration such as 30s or 168h`},
		{"sale_track {\n dedup_window -1h\n}", 2, `dedup_window "-1h": want a positive duration`},
		{"sale_track {\n binding_ttl 0\n}", 2, `binding_ttl "0": want a positive duration`},
		{"sale_track {\n backoff_cap 500ms\n}", 2, `backoff_cap (500ms) is shorter than backoff_base (1s)`},
		{"sale_track {\n backoff_base 20m\n}", 2, `backoff_cap (10m0s) is shorter than backoff_base (20m0s)`},
		{"sale_track {\n backoff_base 20m\n backoff_cap 15m\n concurrency 2\n}", 3, backoff},
		{"sale_track {\n backoff_cap 15m\n backoff_base 20m\n concurrency 2\n}", 3, backoff},
		{"sale_track {\n endpoint https://:443/v1/track/sale\n}", 2, `endpoint "https://:443/v1/track/sale": want an http:// or https:// URL`},
		{"sale_track {\n fx_source http:ecb.example\n}", 2, `fx_source "(unparseable URL)": want an http:// or https:// URL`},
		{"sale_track {\n api_key \" sk_live_1\"\n}", 2, `api_key: begins or ends with a space or tab`},
		{"sale_track {\n api_key \"sk_live_1\x01\"\n}", 2, `api_key: holds a control character`},
		{"sale_track {\n endpoint https://p.example/v1\n signing_secret whsec_%%%\n}", 3, `signing_secret: signing secret starts with whsec_ but the rest is not base64`},
	}
	for _, tt := range tests {
		var a App
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
		checkParseError(t, tt.input, err, tt.line, tt.want)
		if err != nil && strings.Contains(err.Error(), "sk_live_1") {
			t.Errorf("%q: the error shows the API key: %v", tt.input, err)
		}
	}
}

// A value with a placeholder is checked once it is resolved, at validate.
func TestGlobalOptionPlaceholdersCheckedAtValidate(t *testing.T) {
	input := "sale_track {\n endpoint https://{env.SALETRACK_TEST_HOST}/v1/track/sale\n api_key {env.SALETRACK_TEST_KEY}\n}"
	for _, tt := range []struct{ host, key, want string }{
		{"platform.example", "sk_live_1", ""},
		{":443", "sk_live_1", `endpoint "https://:443/v1/track/sale": want an http:// or https:// URL`},
		{"platform.example", "sk_live_1\r", `api_key: holds a control character`},
	} {
		t.Setenv("SALETRACK_TEST_HOST", tt.host)
		t.Setenv("SALETRACK_TEST_KEY", tt.key)
		var a App
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
			t.Fatalf("%s: parse: %v", tt.host, err)
		}
		err := provisionAndValidate(t, &a)
		if (tt.want == "" && err != nil) || (tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want))) {
			t.Errorf("%s %q: validate = %v, want %q", tt.host, tt.key, err, tt.want)
		}
	}
}

// Validate applies to a JSON config the same rules the Caddyfile parser
// does, and refuses what Start would.
func TestAppValidateRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, json, want string
	}{
		{"rate of USD", `{"fx_rates":{"USD":"1"}}`, `fx_rate USD: USD converts to itself and takes no rate`},
		{"rate 0e5", `{"fx_rates":{"AED":"0e5"}}`, `fx_rate AED: "0e5" is not a positive decimal`},
		{"rate 0.0e3", `{"fx_rates":{"AED":"0.0e3"}}`, `fx_rate AED: "0.0e3" is not a positive decimal`},
		{"rate twice", `{"fx_rates":{"AED":"0.27","aed":"0.28"}}`, `fx_rate AED: given twice`},
		{"rate code", `{"fx_rates":{"XXQ":"1"}}`, `fx_rate: "XXQ" is not an ISO 4217 currency code`},
		{"negative duration", `{"backoff_base":-1}`, `backoff_base -1ns: want a positive duration`},
		{"negative age", `{"max_event_age":"-1h"}`, `max_event_age -1h0m0s: want a positive duration`},
		{"negative fx age", `{"fx_max_age":"-1h"}`, `fx_max_age -1h0m0s: want a positive duration`},
		{"negative binding ttl", `{"binding_ttl":"-1h"}`, `binding_ttl -1h0m0s: want a positive duration`},
		{"file on the binding key", `{"storage_dir":"` + dir + `","file":"` + filepath.Join(dir, "binding.key") + `"}`, `is the binding's key`},
		{"concurrency", `{"concurrency":-1}`, `concurrency -1: want a number from 1 to 256`},
		{"recent", `{"recent":100001}`, `recent 100001: want a number from 1 to 100000`},
		{"max_storage", `{"max_storage":1000}`, `max_storage 1000: want a size from 1MiB to 8EiB`},
		{"backoff", `{"backoff_cap":"500ms"}`, `backoff_cap (500ms) is shorter than backoff_base (1s)`},
		{"endpoint", `{"endpoint":"https://:443/v1"}`, `endpoint "https://:443/v1": want an http:// or https:// URL`},
		{"fx_source", `{"fx_source":"ftp://ecb.example/x.xml"}`, `fx_source "ftp://ecb.example/x.xml": want an http:// or https:// URL`},
		{"api key", `{"endpoint":"https://p.example/v1","api_key":"sk_live_1\n"}`, `api_key: holds a control character`},
		{"signing secret", `{"platform":"generic","endpoint":"https://p.example/v1","signing_secret":"whsec_not base64"}`, `signing secret starts with whsec_ but the rest is not base64`},
		{"file on the outbox", `{"storage_dir":"` + dir + `","file":"` + filepath.Join(dir, "outbox.db") + `"}`, `is the outbox database`},
		{"file on the rates cache", `{"storage_dir":"` + dir + `","file":"` + filepath.Join(dir, "..", filepath.Base(dir), "fx-rates.json") + `"}`, `is the exchange-rate cache`},
	}
	for _, tt := range tests {
		var a App
		if err := json.Unmarshal([]byte(tt.json), &a); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		err := provisionAndValidate(t, &a)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: validate = %v, want %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "sk_live_1") {
			t.Errorf("%s: the error shows the API key: %v", tt.name, err)
		}
	}
}

// Whatever Validate passes, Start takes.
func TestStartTakesWhatValidatePasses(t *testing.T) {
	for _, cfg := range []string{
		`{"fx_rates":{"AED":"0.2723"}}`,
		`{"fx_rates":{"AED":" 2723e-4"}}`,
		`{"fx_rates":{"USD":"1"}}`,
		`{"fx_rates":{"AED":"0e5"}}`,
		`{"fx_rates":{"AED":"0.0e3"}}`,
		`{"fx_rates":{"AED":"0.27","aed":"0.28"}}`,
		`{"endpoint":"http://127.0.0.1:9/v1","signing_secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}`,
		`{"endpoint":"http://127.0.0.1:9/v1","signing_secret":"whsec_"}`,
		`{"endpoint":"http://127.0.0.1:9/v1","signing_secret":"whsec_not base64"}`,
		`{"endpoint":"http://127.0.0.1:9/v1","signing_secret":"plain secret"}`,
	} {
		var a App
		if err := json.Unmarshal([]byte(cfg), &a); err != nil {
			t.Fatal(err)
		}
		a.StorageDir = t.TempDir()
		a.FxSource = "http://127.0.0.1:9/eurofxref-daily.xml"
		if err := provisionAndValidate(t, &a); err != nil {
			continue
		}
		if err := a.Start(); err != nil {
			t.Errorf("%s: validate passed, start failed: %v", cfg, err)
			continue
		}
		if err := a.Stop(); err != nil {
			t.Errorf("%s: stop: %v", cfg, err)
		}
	}
}

func provisionAndValidate(t *testing.T, a *App) error {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	return a.Validate()
}
