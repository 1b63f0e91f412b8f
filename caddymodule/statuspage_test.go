package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// A cluster state in the stats, however it is laid out, is shown as
// name and value rows.
func TestStatusPageShowsClusterState(t *testing.T) {
	cluster := flatten(json.RawMessage(`{"role":"leader","peers":3,"nats":{"connected":true}}`))
	want := []field{{"nats", `{"connected":true}`}, {"peers", "3"}, {"role", "leader"}}
	if len(cluster) != len(want) {
		t.Fatalf("flatten = %v, want %v", cluster, want)
	}
	for i := range want {
		if cluster[i] != want[i] {
			t.Errorf("flatten[%d] = %v, want %v", i, cluster[i], want[i])
		}
	}
	page := statusPage{Pipelines: []pipelineRow{{StorageDir: "/var/lib/st", Cluster: cluster}}}
	var buf bytes.Buffer
	if err := statusPageTemplate.Execute(&buf, page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `<table id="cluster">`) || !strings.Contains(buf.String(), "<tr><th>role</th><td>leader</td></tr>") {
		t.Errorf("the page lacks the cluster table:\n%s", buf.String())
	}
	buf.Reset()
	page.Pipelines[0].Cluster = nil
	if err := statusPageTemplate.Execute(&buf, page); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), `id="cluster"`) {
		t.Error("a cluster table without a cluster")
	}
}

// Only /sale_track/ itself is the page; the subtree it is registered on
// answers 404 for anything else.
func TestStatusPageOnlyAtItsPath(t *testing.T) {
	rec := httptest.NewRecorder()
	err := handleStatusPage(rec, httptest.NewRequest(http.MethodGet, "/sale_track/nope", nil))
	var apiErr caddy.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != http.StatusNotFound {
		t.Errorf("/sale_track/nope: %v, want a 404", err)
	}
	rec = httptest.NewRecorder()
	if err := handleStatusPage(rec, httptest.NewRequest(http.MethodGet, "/sale_track/", nil)); err != nil {
		t.Fatal(err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" || !strings.Contains(rec.Body.String(), "<h1>sale_track</h1>") {
		t.Errorf("the page: %s\n%s", ct, rec.Body.String())
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q lets other sites frame the page", csp)
	}
}

// Route names, invoice ids and reasons come from the shop's data and its
// config: the page shows them as text, in an element or an attribute,
// never as markup or script.
func TestStatusPageEscapesShopData(t *testing.T) {
	const evil = `x"><img src=x onerror=alert(1)><script>alert(2)</script>`
	page := statusPage{
		Routes:   []routeRow{{routeFigures: routeFigures{Route: evil, Kind: evil}}},
		Outcomes: []outcomeFigure{{Route: evil, Outcome: evil, Reason: evil, Count: 1}},
		Recent:   []outcomeEntry{{Route: evil, Kind: evil, Outcome: evil, Reason: evil, InvoiceID: evil}},
		Pipelines: []pipelineRow{{StorageDir: evil, Error: evil, Cluster: []field{{evil, evil}},
			DeadTotal: 1, DeadLetters: []deadRow{{Route: evil, Kind: evil, InvoiceID: evil, Reason: evil, At: evil}}}},
	}
	var buf bytes.Buffer
	if err := statusPageTemplate.Execute(&buf, page); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, raw := range []string{"<img", "<script>alert", `x">`} {
		if strings.Contains(html, raw) {
			t.Errorf("the page carries %q from the shop's data as markup", raw)
		}
	}
	if !strings.Contains(html, "x&#34;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;") {
		t.Error("the shop's data is not shown as text")
	}
}
