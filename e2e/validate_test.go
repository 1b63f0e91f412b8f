package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `caddy validate` provisions every module but starts nothing: it opens no
// outbox and touches no network; a mistake fails it, and `caddy adapt`,
// with the file and line named.
func TestValidateAndAdaptThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	storage := filepath.Join(dir, "st")
	good := `{
	sale_track {
		platform generic
		endpoint https://platform.example/v1/track/sale
		storage_dir ` + storage + `
	}
}
http://127.0.0.1:1 {
	sale_track stripe
	reverse_proxy 127.0.0.1:2
}
`
	path := filepath.Join(dir, "Caddyfile")
	os.WriteFile(path, []byte(good), 0o644)
	if out, err := exec.Command(caddyBin, "validate", "--config", path, "--adapter", "caddyfile").CombinedOutput(); err != nil {
		t.Fatalf("validate failed on a good config: %v\n%s", err, out)
	}
	if _, err := os.Stat(storage); !os.IsNotExist(err) {
		t.Fatalf("validate created the storage directory (%v): it must open nothing", err)
	}

	bad := strings.Replace(good, "sale_track stripe", "sale_track {\n\t\tamount order..total\n\t}", 1)
	os.WriteFile(path, []byte(bad), 0o644)
	for _, cmd := range []string{"validate", "adapt"} {
		out, err := exec.Command(caddyBin, cmd, "--config", path, "--adapter", "caddyfile").CombinedOutput()
		if err == nil {
			t.Fatalf("%s accepted a malformed gjson path", cmd)
		}
		// The message arrives inside a JSON log line, its quotes escaped.
		for _, want := range []string{`amount: gjson path \"order..total\": empty component at offset 5`, "at " + path + ":10"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s output lacks %q:\n%s", cmd, want, out)
			}
		}
	}
}

// What Start or the running server would refuse, `caddy validate` and
// `caddy adapt` refuse first, naming the line.
func TestValidateRefusesWhatStartWould(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	tests := []struct {
		global, site string // the mistake, in the global block or the site
		want         string // the message, as it appears JSON-escaped in the output
	}{
		{global: "fx_rate USD 1", want: `fx_rate USD: USD converts to itself and takes no rate`},
		{global: "fx_rate AED 0e5", want: `fx_rate AED: \"0e5\" is not a positive decimal`},
		{global: "fx_rate AED 0.0e3", want: `fx_rate AED: \"0.0e3\" is not a positive decimal`},
		{site: `click_cookie {
		domain "shop example.com;x"
	}`, want: `domain \"shop example.com;x\": not a cookie domain; net/http would drop it from every Set-Cookie`},
		{site: `click_cookie {
		max_age 500ms
	}`, want: `max_age \"500ms\": want at least 1s`},
	}
	for _, tt := range tests {
		config := `{
	sale_track {
		platform generic
		endpoint https://platform.example/v1/track/sale
		storage_dir ` + filepath.Join(dir, "st") + `
		` + tt.global + `
	}
}
http://127.0.0.1:1 {
	` + tt.site + `
	reverse_proxy 127.0.0.1:2
}
`
		mistake := tt.global + tt.site
		if i := strings.IndexByte(mistake, '\n'); i >= 0 {
			mistake, _, _ = strings.Cut(strings.TrimSpace(mistake[i+1:]), "\n") // the line inside the block
		}
		line := 1 + strings.Count(config[:strings.Index(config, mistake)], "\n")
		if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"validate", "adapt"} {
			out, err := exec.Command(caddyBin, cmd, "--config", path, "--adapter", "caddyfile").CombinedOutput()
			if err == nil {
				t.Errorf("%s accepted %q", cmd, mistake)
				continue
			}
			at := fmt.Sprintf("at %s:%d", path, line)
			if !strings.Contains(string(out), tt.want+", "+at) {
				t.Errorf("%s on %q: output lacks %q:\n%s", cmd, mistake, tt.want+", "+at, out)
			}
		}
	}
}

// A JSON config gets the same rules from Validate.
func TestValidateRefusesJSONConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "caddy.json")
	for rates, want := range map[string]string{
		`{"USD": "1"}`:     `fx_rate USD: USD converts to itself and takes no rate`,
		`{"AED": "0e5"}`:   `fx_rate AED: \"0e5\" is not a positive decimal`,
		`{"AED": "0.0e3"}`: `fx_rate AED: \"0.0e3\" is not a positive decimal`,
	} {
		config := `{"apps": {"sale_track": {"storage_dir": "` + filepath.Join(dir, "st") + `", "fx_rates": ` + rates + `}}}`
		if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(caddyBin, "validate", "--config", path).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("validate on fx_rates %s: %v, output lacks %q:\n%s", rates, err, want, out)
		}
	}
}
