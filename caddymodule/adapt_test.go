package caddymodule

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// TestCaddyfileAdapt compares each testdata/adapt/*.caddytest file's
// Caddyfile (above the ---------- line) with the JSON it must adapt to
// (below it), as Caddy's own adapt tests do.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/adapt/*.caddytest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no adapt tests found: %v", err)
	}
	separator := regexp.MustCompile(`(?m)^-{10,}\s*$`)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			parts := separator.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), 2)
			if len(parts) != 2 {
				t.Fatalf("%s: no ---------- separator", file)
			}
			if !caddytest.CompareAdapt(t, file, parts[0], "caddyfile", strings.TrimSpace(parts[1])) {
				t.Errorf("%s: adapted JSON differs (diff above)", file)
			}
		})
	}
}
