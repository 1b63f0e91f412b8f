package fx

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// CacheFile is the name of the rates cache inside FetcherOptions.CacheDir.
const CacheFile = "fx-rates.json"

// cacheVersion changes when the file's meaning does; an unknown version is
// ignored like a corrupt file rather than misread.
const cacheVersion = 1

// maxCacheBytes bounds what a start-up read will swallow: fourteen days of
// thirty rates is a few kilobytes.
const maxCacheBytes = 1 << 20

// cacheDoc is the cache's JSON. Rates stay decimal text, exactly as the
// feed wrote them.
type cacheDoc struct {
	Version int          `json:"version"`
	Saved   time.Time    `json:"saved"`
	Source  string       `json:"source,omitempty"`
	History []cacheRates `json:"history"`
}

type cacheRates struct {
	Date  string            `json:"date"`
	Rates map[string]string `json:"rates"`
}

// writeCache stores the history atomically: a temporary file in the same
// directory, synced, then renamed over the old one, so a crash leaves
// either the old cache or the new one and never half of either.
func writeCache(path, source string, history []*Rates, now time.Time) (err error) {
	doc := cacheDoc{Version: cacheVersion, Saved: now.UTC(), Source: source}
	for _, r := range history {
		cr := cacheRates{Date: r.Date, Rates: make(map[string]string, len(r.PerEUR))}
		for code, d := range r.PerEUR {
			cr.Rates[code] = plainText(d)
		}
		doc.History = append(doc.History, cr)
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("rates cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+CacheFile+".*.tmp")
	if err != nil {
		return fmt.Errorf("rates cache: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("rates cache: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("rates cache: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("rates cache: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rates cache: %w", err)
	}
	// Make the rename itself durable where the platform allows it.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// readCache loads a history written by writeCache. Every day must pass the
// same checks as a fresh feed; one bad day rejects the file, which the
// caller then treats like a missing one. A missing file reports an error
// matching fs.ErrNotExist.
func readCache(path string) ([]*Rates, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCacheBytes+1))
	if err != nil {
		return nil, fmt.Errorf("rates cache %s: %w", path, err)
	}
	if len(data) > maxCacheBytes {
		return nil, fmt.Errorf("rates cache %s: larger than %d bytes", path, maxCacheBytes)
	}
	var doc cacheDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("rates cache %s: %w", path, err)
	}
	if doc.Version != cacheVersion {
		return nil, fmt.Errorf("rates cache %s: version %d, want %d", path, doc.Version, cacheVersion)
	}
	if len(doc.History) == 0 {
		return nil, fmt.Errorf("rates cache %s: no rates", path)
	}
	history := make([]*Rates, 0, len(doc.History))
	for _, cr := range doc.History {
		r, err := NewRates(cr.Date, cr.Rates)
		if err == nil {
			err = r.checkComplete()
		}
		if err != nil {
			return nil, fmt.Errorf("rates cache %s: %w", path, err)
		}
		history = append(history, r)
	}
	return history, nil
}
