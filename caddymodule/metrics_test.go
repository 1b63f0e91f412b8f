package caddymodule

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
)

// metricValue scrapes Caddy's admin /metrics and returns one sample.
func metricValue(t *testing.T, sample string) float64 {
	t.Helper()
	v, ok := scrape(t, sample)
	if !ok {
		t.Fatalf("no sample %s in /metrics", sample)
	}
	return v
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
	before, _ := scrape(t, `caddy_sale_track_captured_total{route="checkout"}`)
	checkout(t, tester, "/checkout/plain/inv_metric_1")
	checkout(t, tester, "/checkout/plain/inv_metric_1") // a duplicate
	checkout(t, tester, "/checkout/pending/inv_metric_2")
	plat.WaitRequests(t, 1)
	if got := metricValue(t, `caddy_sale_track_captured_total{route="checkout"}`); got != before+1 {
		t.Errorf("captured_total = %v, want %v", got, before+1)
	}
	if got := metricValue(t, `caddy_sale_track_duplicates_total{route="checkout"}`); got < 1 {
		t.Errorf("duplicates_total = %v", got)
	}
	if got := metricValue(t, `caddy_sale_track_skipped_total{reason="condition",route="checkout"}`); got < 1 {
		t.Errorf("skipped_total{condition} = %v", got)
	}
	if got := metricValue(t, `caddy_sale_track_sent_total{sink="http"}`); got < 1 {
		t.Errorf("sent_total{http} = %v", got)
	}

	// A reload makes a new registry: the counts must carry over, not restart.
	tester = startCaddy(t, shop.Addr, plat.URL, storage)
	checkout(t, tester, "/checkout/plain/inv_metric_3")
	plat.WaitRequests(t, 2)
	if got := metricValue(t, `caddy_sale_track_captured_total{route="checkout"}`); got != before+2 {
		t.Errorf("captured_total after reload = %v, want %v", got, before+2)
	}
}
