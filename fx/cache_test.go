package fx

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCacheRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "made", "on", "demand")
	path := filepath.Join(dir, CacheFile)
	var history []*Rates
	for _, doc := range []string{feedXML("2024-06-27", setRate("USD", "1.0712")), feedXML("2024-06-28", nil)} {
		r, err := ParseECB(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		history = append(history, r)
	}
	saved := at("2024-06-28T14:35:00Z")
	if err := writeCache(path, DefaultURL, history, saved); err != nil {
		t.Fatal(err)
	}
	// Overwriting goes through the same temp-file-and-rename.
	if err := writeCache(path, DefaultURL, history, saved); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != CacheFile {
		t.Errorf("cache dir holds %v, want only %s (no temp files left)", entries, CacheFile)
	}

	got, err := readCache(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("read %d days, want 2", len(got))
	}
	for i := range history {
		if got[i].Date != history[i].Date || len(got[i].PerEUR) != len(history[i].PerEUR) {
			t.Fatalf("day %d: %s with %d rates, want %s with %d", i, got[i].Date, len(got[i].PerEUR), history[i].Date, len(history[i].PerEUR))
		}
		for code, d := range history[i].PerEUR {
			// Text, not just value: "148.90" must come back as "148.90".
			if plainText(got[i].PerEUR[code]) != plainText(d) {
				t.Errorf("%s %s = %s, want %s", got[i].Date, code, got[i].PerEUR[code], d)
			}
		}
	}

	// The file is plain JSON a person can read, rates as decimal strings.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["version"] != float64(1) || doc["saved"] != "2024-06-28T14:35:00Z" || !strings.Contains(string(raw), `"ISK": "148.90"`) {
		t.Errorf("unexpected cache file:\n%s", raw)
	}
}

func TestReadCacheRejects(t *testing.T) {
	fullDay := func(date string) string {
		var parts []string
		for _, r := range feedDay {
			parts = append(parts, `"`+r[0]+`":"`+r[1]+`"`)
		}
		return `{"date":"` + date + `","rates":{` + strings.Join(parts, ",") + `}}`
	}
	tests := map[string]string{
		"not JSON":        "<?xml?>",
		"unknown version": `{"version":2,"history":[` + fullDay("2024-06-28") + `]}`,
		"no history":      `{"version":1,"history":[]}`,
		"partial day":     `{"version":1,"history":[{"date":"2024-06-28","rates":{"USD":"1.07"}}]}`,
		"bad rate":        `{"version":1,"history":[` + strings.Replace(fullDay("2024-06-28"), `"1.0705"`, `"1,0705"`, 1) + `]}`,
		"bad date":        `{"version":1,"history":[` + fullDay("28/06/2024") + `]}`,
		"one bad day":     `{"version":1,"history":[` + fullDay("2024-06-27") + `,{"date":"2024-06-28","rates":{}}]}`,
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), CacheFile)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if h, err := readCache(path); err == nil {
				t.Errorf("readCache accepted %d days", len(h))
			}
		})
	}
	if _, err := readCache(filepath.Join(t.TempDir(), CacheFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing cache: %v, want fs.ErrNotExist", err)
	}
}

func TestWriteCacheFailureLeavesNothing(t *testing.T) {
	// A file where the directory should be: MkdirAll fails, nothing is
	// written and the error says so.
	parent := t.TempDir()
	blocker := filepath.Join(parent, "dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := writeCache(filepath.Join(blocker, CacheFile), DefaultURL, []*Rates{r}, at("2024-06-28T14:35:00Z")); err == nil {
		t.Fatal("writeCache into a file succeeded")
	}
}
