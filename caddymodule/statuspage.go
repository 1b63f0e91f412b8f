package caddymodule

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"time"

	"github.com/caddyserver/caddy/v2"
)

//go:embed statuspage.html
var statusPageFiles embed.FS

var statusPageTemplate = template.Must(template.New("statuspage.html").Funcs(template.FuncMap{
	"bar": bar,
}).ParseFS(statusPageFiles, "statuspage.html"))

// statusRecentRows and statusDeadRows bound the page's tables.
const (
	statusRecentRows = 25
	statusDeadRows   = 50
)

// statusPage is what the status page shows.
type statusPage struct {
	Now       string
	Routes    []routeRow
	Revenue   string // today's, all routes
	MaxCount  int    // the widest bar's count
	Outcomes  []outcomeFigure
	Pipelines []pipelineRow
	Recent    []outcomeEntry
}

type routeRow struct {
	routeFigures
	RevenueHour, RevenueToday string
}

// pipelineRow is one delivery: its queue, its dead letters, its rates.
type pipelineRow struct {
	StorageDir  string
	Queued      int64
	InFlight    int64
	OldestAge   string
	DeadTotal   int
	DeadLetters []deadRow
	RatesDate   string
	RatesAge    string
	RatesStale  bool
	Cluster     []field
	Error       string
}

type deadRow struct {
	Route, Kind, InvoiceID, Reason, At string
	Status                             int
}

type field struct{ Name, Value string }

func handleStatusPage(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != "/sale_track/" {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no sale_track admin route %s", r.URL.Path)}
	}
	if err := requireMethod(r, http.MethodGet); err != nil {
		return err
	}
	page := buildStatusPage(time.Now().UTC())
	var buf bytes.Buffer
	if err := statusPageTemplate.Execute(&buf, page); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Everything is inline and the page talks to its own origin only; no
	// other site may frame its replay buttons.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	_, err := w.Write(buf.Bytes())
	return err
}

// buildStatusPage gathers what the page shows.
func buildStatusPage(now time.Time) statusPage {
	routes, outcomes := figures.snapshot(now)
	page := statusPage{Now: now.Format(time.RFC3339), Outcomes: outcomes, Recent: recent.newest(statusRecentRows)}
	var revenue captureCount
	for _, f := range routes {
		page.Routes = append(page.Routes, routeRow{routeFigures: f, RevenueHour: usdText(f.LastHour), RevenueToday: usdText(f.Today)})
		page.MaxCount = max(page.MaxCount, f.Today.N)
		revenue.merge(captureCount{USD: f.Today.USD})
	}
	page.Revenue = usdText(revenue)
	pipelines := liveDeliveries()
	sort.Slice(pipelines, func(i, j int) bool { return pipelines[i].dir < pipelines[j].dir })
	for _, d := range pipelines {
		page.Pipelines = append(page.Pipelines, d.statusRow(now))
	}
	return page
}

// statusRow is one delivery's part of the page: the same stats and dead
// letters the admin API serves (the fleet's, in a fleet).
func (d *pipeline) statusRow(now time.Time) pipelineRow {
	v := d.stats()
	row := pipelineRow{StorageDir: d.dir, Queued: v.Queued, InFlight: v.InFlight,
		OldestAge: (time.Duration(v.OldestAgeSeconds) * time.Second).String()}
	if v.Cluster != nil {
		// Shown however the fleet's stats are laid out.
		if raw, err := json.Marshal(v.Cluster); err == nil {
			row.Cluster = flatten(raw)
		}
	}
	letters, total, err := d.deadLetters(0, statusDeadRows)
	if err != nil {
		row.Error = "reading the dead letters: " + err.Error()
	}
	row.DeadTotal = total
	for _, dl := range letters {
		dr := deadRow{Reason: dl.Reason, Status: dl.Status, At: dl.At.UTC().Format(time.RFC3339)}
		if dl.Event != nil {
			dr.Route, dr.Kind, dr.InvoiceID = dl.Event.Route, eventLabel(dl.Event.Kind), dl.Event.InvoiceID
		}
		row.DeadLetters = append(row.DeadLetters, dr)
	}
	row.RatesDate = d.rates.Book().Latest()
	if day, err := time.Parse(time.DateOnly, row.RatesDate); err == nil {
		age := now.Truncate(24 * time.Hour).Sub(day)
		row.RatesAge = fmt.Sprintf("%d days", int(age.Hours()/24))
		row.RatesStale = age > d.settings.Load().fxMaxAge
	}
	return row
}

// flatten lists an object's members as text, sorted by name; anything
// else is one unnamed value.
func flatten(raw json.RawMessage) []field {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return []field{{Value: string(raw)}}
	}
	var out []field
	for name, v := range obj {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		out = append(out, field{name, s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// usdText is revenue as text: "12.30 USD", or "0 USD" when none was
// counted.
func usdText(c captureCount) string {
	if c.USD.CurrencyCode() == "" {
		return "0 USD"
	}
	return c.USD.Number() + " USD"
}

// barWidth is the widest bar in the page's SVGs, in pixels.
const barWidth = 160

// bar is an inline SVG bar of n against most; the number is in the text
// beside it, the bar only shows proportion.
func bar(n, most int) template.HTML {
	w := 0
	if most > 0 {
		w = n * barWidth / most
	}
	if n > 0 {
		w = max(w, 1)
	}
	return template.HTML(fmt.Sprintf(`<svg class="bar" width="%d" height="12" aria-hidden="true"><rect width="%d" height="12"></rect></svg>`, barWidth, w))
}
