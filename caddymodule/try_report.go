package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/fx"
	"github.com/saletrack/caddy-saletrack/internal/httpcheck"
	"github.com/saletrack/caddy-saletrack/sale"
)

// tryResult is what a try found, as --json prints it.
type tryResult struct {
	Sale bool   `json:"sale"`
	Kind string `json:"kind"`
	// Payload is the platform's JSON body; null when not a sale.
	Payload  json.RawMessage     `json:"payload"`
	Endpoint string              `json:"endpoint"`
	Reason   string              `json:"reason"`
	Fields   map[string]tryField `json:"fields"`
	// Notes say what was left out (the binding lookup) and what was
	// replaced or converted.
	Notes []string `json:"notes"`

	// order is the fields' order, for the text output.
	order []sale.Field
}

// tryField is how one field was found: its value, and the sources tried
// in order up to the one that gave it.
type tryField struct {
	Value string             `json:"value"`
	Tried []sale.SourceTrace `json:"tried"`
}

// bindingNote says what a try leaves out.
const bindingNote = "the binding lookup is left out: a missing click or customer id is not filled from what the proxy saw earlier"

// judgeTry turns the handler's verdict into a try's result: for an event,
// the USD value, the platform's checks and the exact body it would get.
func judgeTry(h *Handler, x *tryExchange, v verdict, now time.Time) *tryResult {
	a := h.app
	res := &tryResult{Kind: sale.KindSale, Fields: map[string]tryField{}, Notes: []string{bindingNote, "nothing was sent"}}
	if h.kind == sale.KindLead {
		res.Kind = sale.KindLead
	}
	res.Endpoint = tryEndpoint(a, res.Kind == sale.KindLead)
	if v.explained != nil {
		for _, f := range v.explained.Fields {
			res.Fields[string(f.Field)] = tryField{Value: f.Value, Tried: f.Tried}
			res.order = append(res.order, f.Field)
		}
	}
	if v.kind != verdictCaptured {
		res.Reason = h.whyNot(x, v)
		return res
	}
	ev := v.ev
	for _, r := range ev.Repairs {
		res.Notes = append(res.Notes, fmt.Sprintf("%s replaced: %s", r.Field, r.Reason))
	}
	if !ev.IsLead() {
		res.Notes = append(res.Notes, convertForTry(a, ev))
	}
	if err := a.platform.Check(ev, now); err != nil {
		res.Reason = "the platform would refuse it: " + err.Error()
		return res
	}
	res.Sale = true
	res.Payload = a.platform.WirePayload(ev, a.SendUSD, now)
	if sent := a.platform.WireTimestamp(ev, now); !sent.Equal(ev.Timestamp) {
		res.Notes = append(res.Notes, fmt.Sprintf("timestamp: %s is older than %s takes, so the send time stands in",
			ev.Timestamp.UTC().Format(sale.TimestampLayout), a.platform.Name))
	}
	return res
}

// convertForTry records the sale's USD value as a commit does, at the
// embedded ECB rates and any fx_rate of the config: a try fetches nothing
// and reads no rates cache.
func convertForTry(a *App, ev *sale.Event) string {
	rates, err := fx.NewFetcher(fx.FetcherOptions{URL: a.FxSource, Overrides: a.FxRates, Logger: zap.NewNop()})
	if err != nil {
		return "no USD value: " + err.Error()
	}
	d := &pipeline{rates: rates, logger: zap.NewNop()}
	d.settings.Store(&pipelineSettings{fxMaxAge: time.Duration(a.FxMaxAge)})
	d.convert(ev)
	switch {
	case ev.USD == nil:
		return "no USD value: no exchange rate for " + ev.Currency()
	case ev.USD.Date == "":
		return "USD value " + fx.JSONNumber(ev.USD.Amount)
	}
	return fmt.Sprintf("USD value %s at the rate of %s (the embedded rates; a running Caddy uses the day's)", fx.JSONNumber(ev.USD.Amount), ev.USD.Date)
}

// tryEndpoint says where the event would go, its URL without credentials.
func tryEndpoint(a *App, lead bool) string {
	url := a.saleURL()
	if lead {
		url = a.leadURL()
	}
	if url = a.sendURL(url); url != "" {
		return "POST " + httpcheck.Redact(url) + " (" + a.platform.Name + ")"
	}
	return "no HTTP endpoint: the file " + a.file + " only, which gets the event's own line; the payload is what " + a.platform.Name + " would get"
}

// whyNot says, for a person, why the exchange is not an event.
func (h *Handler) whyNot(x *tryExchange, v verdict) string {
	switch v.kind {
	case verdictPassed:
		return "not inspected: a HEAD request, a protocol upgrade, or a webhook route given no body"
	case verdictNotCandidate:
		return h.whyNotCandidate(v.status, x.responseHeader)
	case verdictNotAccepted:
		return fmt.Sprintf("the shop answered the webhook %d, not one of the route's statuses (%s): the provider will send it again", v.status, h.statusList())
	case verdictSkipped:
		return v.reason + ": " + v.detail
	case verdictNotSale:
		why := "condition not met: when " + v.notSale.Condition
		if v.explained != nil && len(v.explained.Conditions) > 0 {
			held := v.explained.Conditions[len(v.explained.Conditions)-1].Held
			if held == "" {
				why += " (the path found nothing)"
			} else {
				why += " (the path held " + held + ")"
			}
		}
		if v.notSale.Reason != "" {
			why += " [" + v.notSale.Reason + "]"
		}
		return why
	case verdictRejected:
		why := v.rejected.Field + ": " + v.rejected.Reason
		if v.rejected.Object != "" {
			why += " (object " + v.rejected.Object + ")"
		}
		return why
	case verdictNoClick:
		return "a lead without a click ties nothing: no click_id source gave a click id a tracked link sets"
	}
	return ""
}

// whyNotCandidate says why a response is not one the route reads.
func (h *Handler) whyNotCandidate(status int, header http.Header) string {
	switch {
	case status == http.StatusNoContent || status == http.StatusNotModified:
		return fmt.Sprintf("status %d carries no body", status)
	case !h.statusMatches(status):
		return fmt.Sprintf("status %d is not one of the route's statuses (%s)", status, h.statusList())
	}
	return fmt.Sprintf("Content-Type %q is not JSON", header.Get("Content-Type"))
}

// statusList writes the route's statuses as a Caddyfile does: 201, 2xx.
func (h *Handler) statusList() string {
	out := make([]string, len(h.Status))
	for i, code := range h.Status {
		out[i] = strconv.Itoa(code)
		if code < 100 {
			out[i] += "xx"
		}
	}
	return strings.Join(out, " ")
}

// writeText writes the result as a person reads it: the payload alone on
// stdout, the rest on stderr.
func (res *tryResult) writeText(stdout, stderr io.Writer, at string) {
	fmt.Fprintln(stderr, "handler: "+at)
	if res.Sale {
		fmt.Fprintf(stderr, "%s: %s\n", res.Kind, res.Endpoint)
	} else {
		fmt.Fprintf(stderr, "not a %s: %s\n", res.Kind, res.Reason)
	}
	for _, f := range res.order {
		fmt.Fprintf(stderr, "  %-13s %s\n", f, res.Fields[string(f)].describe())
	}
	for _, n := range res.Notes {
		fmt.Fprintln(stderr, "note: "+n)
	}
	if res.Sale {
		fmt.Fprintf(stdout, "%s\n", res.Payload)
	}
}

// describe writes a field's value and how it was found.
func (f tryField) describe() string {
	tried := make([]string, len(f.Tried))
	for i, t := range f.Tried {
		tried[i] = t.Source
		if t.Refused != "" {
			tried[i] += fmt.Sprintf(" (%q: %s)", t.Value, t.Refused)
		}
	}
	if f.Value == "" {
		return "no value; tried " + strings.Join(tried, ", ")
	}
	how := "from " + tried[len(tried)-1]
	if len(tried) > 1 {
		how += " after " + strings.Join(tried[:len(tried)-1], ", ")
	}
	return fmt.Sprintf("%q %s", f.Value, how)
}
