package caddymodule

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// waitMetric scrapes one sample until want holds for it, and returns its
// last value: a sale's counters move when its commit completes, and the
// commit follows the response.
func waitMetric(t *testing.T, sample string, want func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _ := scrape(t, sample)
		if want(v) || time.Now().After(deadline) {
			return v
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// scrape returns one sample of Caddy's admin /metrics, if present: a
// labelled counter has no sample before its first increment.
func scrape(t *testing.T, sample string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v, true
}

func TestMetricsCountAcrossReloads(t *testing.T) {
	shop, plat := newShop(t), newPlatform(t)
	storage := t.TempDir()
	tester := startCaddy(t, shop.Addr, plat.URL, storage)
	const (
		captured   = `caddy_sale_track_captured_total{event="sale",route="checkout"}`
		duplicates = `caddy_sale_track_duplicates_total{event="sale",route="checkout"}`
		skipped    = `caddy_sale_track_skipped_total{event="sale",reason="condition",route="checkout"}`
		sent       = `caddy_sale_track_sent_total{sink="http"}`
	)
	// The counters are the process's, so earlier tests' counts are in them.
	before := map[string]float64{}
	for _, sample := range []string{captured, duplicates, skipped, sent} {
		before[sample], _ = scrape(t, sample)
	}
	checkout(t, tester, "/checkout/plain/inv_metric_1")
	checkout(t, tester, "/checkout/plain/inv_metric_1") // a duplicate
	checkout(t, tester, "/checkout/pending/inv_metric_2")
	plat.WaitInvoices(t, "inv_metric_1")
	for sample, delta := range map[string]float64{captured: 1, duplicates: 1, skipped: 1, sent: 1} {
		want := before[sample] + delta
		if got := waitMetric(t, sample, func(v float64) bool { return v >= want }); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}

	// A reload makes a new registry: the counts must carry over, not restart.
	tester = startCaddy(t, shop.Addr, plat.URL, storage)
	checkout(t, tester, "/checkout/plain/inv_metric_3")
	plat.WaitInvoices(t, "inv_metric_3")
	for sample, delta := range map[string]float64{captured: 2, sent: 2} {
		want := before[sample] + delta
		if got := waitMetric(t, sample, func(v float64) bool { return v >= want }); got != want {
			t.Errorf("%s after the reload = %v, want %v", sample, got, want)
		}
	}
}
