package e2e

import (
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
		for _, want := range []string{`amount: gjson path \"order..total\": empty component at offset 5`, "at " + path + ":9"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s output lacks %q:\n%s", cmd, want, out)
			}
		}
	}
}
