package caddymodule

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// metricNames are the names of every sale_track metric, as exported.
func metricNames() map[string]bool {
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range collectors() {
			c.Describe(ch)
		}
		close(ch)
	}()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	return names
}

// The Grafana dashboard in docs/ is valid JSON, and every query in it names
// metrics this module exports, and only those.
func TestGrafanaDashboardNamesExistingMetrics(t *testing.T) {
	raw, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("not valid JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard lacks a title, a uid or panels: %q %q %d", dash.Title, dash.UID, len(dash.Panels))
	}
	exists := metricNames()
	if len(exists) < 10 {
		t.Fatalf("found only %d metric names: %v", len(exists), exists)
	}
	named := regexp.MustCompile(`\bcaddy_sale_track_[a-z_]+`)
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names := named.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: %q names no sale_track metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				used[n] = true
				if !exists[n] {
					t.Errorf("panel %q: %s is no metric of this module", p.Title, n)
				}
			}
		}
	}
	for _, n := range []string{"caddy_sale_track_captured_total", "caddy_sale_track_revenue_usd_total", "caddy_sale_track_queued",
		"caddy_sale_track_oldest_queued_age_seconds", "caddy_sale_track_dead_letters", "caddy_sale_track_skipped_total"} {
		if !used[n] {
			t.Errorf("the dashboard lacks %s, which the status page shows", n)
		}
	}
}
