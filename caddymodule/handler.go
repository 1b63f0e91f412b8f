package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/sale"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// DefaultMaxBody bounds the copy of a body kept for inspection.
const DefaultMaxBody = 1 << 20

// Handler watches the responses of a checkout route (or the payment
// webhooks the shop receives) and reports each sale in them. The response
// itself streams to the client untouched and never waits on the platform:
// the sale is committed to the outbox and sent in the background.
type Handler struct {
	// Preset fills every field, the amount unit and the conditions from a
	// platform's published payloads: stripe, shopify, paddle, lemonsqueezy,
	// medusa or saleor. Fields set here override the preset's. Default: none.
	Preset string `json:"preset,omitempty"`

	// Body is where the sale is read from: "response" (the shop's JSON
	// answer) or "request" (a webhook body the shop receives; the sale counts
	// only if the shop answers with a matching status). Default: response, or
	// the preset's.
	Body string `json:"source,omitempty"`

	// Amount lists the sources of the sale amount, tried in order; the first
	// that yields a value wins. A source starting with "{" is a placeholder
	// resolved at request time; anything else is a gjson path into the body.
	// Required unless a preset gives it.
	Amount []string `json:"amount,omitempty"`

	// Currency lists the sources of the ISO 4217 currency code. When none
	// yields a value, DefaultCurrency applies.
	Currency []string `json:"currency,omitempty"`

	// InvoiceID lists the sources of the invoice id, which deduplicates
	// repeated captures of the same sale.
	InvoiceID []string `json:"invoice_id,omitempty"`

	// CustomerID lists the sources of the customerExternalId: the same
	// stable id the shop used when the visitor became a lead. Required; a
	// sale without one is rejected, never given a generated id.
	CustomerID []string `json:"customer_id,omitempty"`

	// Email lists the sources of the customer's email. Optional.
	Email []string `json:"email,omitempty"`

	// Name lists the sources of the customer's name. A gjson multipath such
	// as [first_name,last_name] is joined with a space. Optional.
	Name []string `json:"name,omitempty"`

	// ClickID lists the sources of the clickId. Default:
	// {http.vars.click_id} (set by click_cookie on this request, by the
	// attribution rule), then the platform's click cookie:
	// {http.request.cookie.cms_rf} (cutmeshort), {http.request.cookie.dub_id}
	// (dub) or {http.request.cookie.clickId} (generic).
	ClickID []string `json:"click_id,omitempty"`

	// Timestamp lists the sources of the sale's time (ISO 8601, or unix
	// seconds or milliseconds). Default: the time of capture.
	Timestamp []string `json:"timestamp,omitempty"`

	// AmountDigits lists the sources of the number of minor-unit digits,
	// for shops that state it (WooCommerce's currency_minor_unit). Default:
	// the currency's ISO 4217 digits.
	AmountDigits []string `json:"amount_digits,omitempty"`

	// Ref lists the sources of the payment provider's checkout reference
	// in the body (a Stripe Checkout Session id, a Paddle transaction id):
	// a sale without a click or customer gets those checkout_ref recorded
	// for the same reference. Every source that yields a value is tried.
	// Default: the preset's (stripe, paddle, medusa), else none.
	Ref []string `json:"ref,omitempty"`

	// Event is the event name sent to the platform. Default: the
	// platform's (cutmeshort: sale or sign_up; dub: Purchase or Sign up;
	// generic: sale or lead).
	Event string `json:"event,omitempty"`

	// AmountUnit is "major" (12.45) or "minor" (1245 cents; divided by
	// 10^digits of the currency: JPY 0, USD 2, KWD 3). Default: major.
	AmountUnit string `json:"amount_unit,omitempty"`

	// DefaultCurrency applies when no currency source yields a value.
	// Default: USD.
	DefaultCurrency string `json:"default_currency,omitempty"`

	// When lists conditions that must all hold for a body to be a sale;
	// given here, they replace the preset's. Default: the preset's, or none.
	When []sale.Condition `json:"when,omitempty"`

	// Status lists the response statuses that may carry a sale: a full code
	// (201) or a class (2 for 2xx). Default: [2].
	Status []int `json:"status,omitempty"`

	// MaxBody bounds the body kept for inspection, in bytes, after
	// decoding; a larger body is not a sale and is passed through untouched.
	// Default: 1048576 (1 MiB).
	MaxBody int64 `json:"max_body,omitempty"`

	// Route names this capture point in logs and metrics. Default: the
	// preset's name, or "default".
	Route string `json:"route,omitempty"`

	// Mode is a lead's mode: "deferred" marks the first event of a
	// two-step sign-up, sent with the click; lead_track only. Default:
	// none.
	Mode string `json:"mode,omitempty"`

	// FollowUp marks a lead_track route that completes a deferred
	// sign-up: its leads are sent even without a click, which the platform
	// finds by customerExternalId. Elsewhere a lead without a click is
	// not attributable and is skipped. Default: false.
	FollowUp bool `json:"follow_up,omitempty"`

	// kind is sale.KindLead for lead_track; empty for sale_track.
	kind string

	spec *sale.Spec
	fill sale.Filler // h.bindingFiller, bound once
	// placeholders are those the spec reads, resolved before a body is
	// read after its response.
	placeholders []string
	wants        func(int, http.Header) bool // h.wantsResponse, bound once
	app          *App
	logger       *zap.Logger
}

// fieldSources maps each sale field to the config field that lists its
// sources: the Caddyfile parser fills them through it and Provision reads
// them through it, so a field is named in sale.Fields alone.
func (h *Handler) fieldSources() map[sale.Field]*[]string {
	return map[sale.Field]*[]string{
		sale.FieldAmount: &h.Amount, sale.FieldCurrency: &h.Currency, sale.FieldInvoiceID: &h.InvoiceID,
		sale.FieldCustomerID: &h.CustomerID, sale.FieldEmail: &h.Email, sale.FieldName: &h.Name,
		sale.FieldClickID: &h.ClickID, sale.FieldTimestamp: &h.Timestamp, sale.FieldAmountDigits: &h.AmountDigits,
		sale.FieldRef: &h.Ref,
	}
}

// specConfig is what this handler's config says, for sale.BuildSpec. The
// click cookie is the app's platform's once Provision has found the app;
// before that (the Caddyfile parser's check) it is left to BuildSpec's
// default, which builds the same spec but for the cookie's name.
func (h *Handler) specConfig() sale.SpecConfig {
	fields := map[sale.Field][]string{}
	for name, sources := range h.fieldSources() {
		if len(*sources) > 0 {
			fields[name] = *sources
		}
	}
	var clickCookie string
	if h.app != nil && h.app.platform != nil {
		clickCookie = h.app.platform.ClickCookie
	}
	return sale.SpecConfig{
		Kind: h.kind, Mode: h.Mode,
		Preset: h.Preset, Body: h.Body, Fields: fields, EventName: h.Event,
		AmountUnit: h.AmountUnit, DefaultCurrency: h.DefaultCurrency, When: h.When,
		ClickCookie: clickCookie,
	}
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.sale_track",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision finds the sale_track app, which Caddy creates with its
// defaults when the config has none, and builds the extraction spec with
// its platform's click cookie.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	app, err := saleTrackApp(ctx)
	if err != nil {
		return err
	}
	h.app = app
	spec, err := sale.BuildSpec(h.specConfig())
	if err != nil {
		return err
	}
	h.spec = spec
	h.fill = h.bindingFiller()
	h.placeholders = spec.Placeholders()
	h.wants = h.wantsResponse
	if h.MaxBody == 0 {
		h.MaxBody = DefaultMaxBody
	}
	if len(h.Status) == 0 {
		h.Status = []int{2}
	}
	if h.Route == "" {
		h.Route = "default"
		if h.Preset != "" {
			h.Route = h.Preset
		}
	}
	registerMetrics(ctx)
	return nil
}

// Validate checks what Provision could not fix.
func (h *Handler) Validate() error {
	if err := checkMaxBody(h.MaxBody); err != nil {
		return err
	}
	for _, code := range h.Status {
		if err := checkStatus(code); err != nil {
			return err
		}
	}
	return nil
}

// saleTrackApp is the config's sale_track app, which Caddy creates with
// its defaults when the config has none.
func saleTrackApp(ctx caddy.Context) (*App, error) {
	app, err := ctx.App("sale_track")
	if err != nil {
		return nil, fmt.Errorf("loading the sale_track app: %v", err)
	}
	return app.(*App), nil
}

// MaxMaxBody bounds max_body: the copy is held in memory.
const MaxMaxBody = 1 << 30

// checkMaxBody is the rule for max_body, in bytes.
func checkMaxBody(n int64) error {
	if n < 1 || n > MaxMaxBody {
		return fmt.Errorf("max_body %d: want a size from 1B to 1GiB, such as 1MiB", n)
	}
	return nil
}

// checkStatus is the rule for a status entry: a code (100-599) or a class
// (1-5, written 1xx-5xx in a Caddyfile).
func checkStatus(code int) error {
	if (code >= 1 && code <= 5) || (code >= 100 && code <= 599) {
		return nil
	}
	return fmt.Errorf("status %d: want a status code (100 to 599) or a class (2xx)", code)
}

// ServeHTTP passes the request on, watching the exchange; once the upstream
// has finished it extracts the sale and commits it to the outbox.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return h.serve(w, r, next, nil)
}

// serve is ServeHTTP's work. With a non-nil seen, what the exchange came
// to is stored there, with how the body was read, instead of acted on:
// `caddy sale-track try` runs the request path this way, and nothing is
// counted, logged or committed.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, seen *verdict) error {
	if r.Method == http.MethodHead || isUpgrade(r) {
		return next.ServeHTTP(w, r)
	}
	var reqCopy *bodyCopy
	if h.spec.FromRequest {
		if r.Body == nil || r.Body == http.NoBody {
			return next.ServeHTTP(w, r)
		}
		reqCopy = newBodyCopy(r.Body, h.MaxBody)
		r.Body = reqCopy
	}
	tw := newTeeWriter(w, h.MaxBody, h.wants)
	defer tw.releaseBuffer()
	if h.spec.FromRequest {
		tw.hold()
	}
	// What was held goes out after the sale is committed, or at once
	// when there is none.
	defer tw.release()

	if err := next.ServeHTTP(tw, r); err != nil {
		// An upstream error is not a sale. Caddy logs the error itself.
		h.logger.Debug("upstream failed, no sale", zap.String("route", h.Route), zap.Error(err))
		return err
	}
	if seen == nil && h.readsLater(tw) {
		h.readLater(tw, r)
		return nil
	}
	v := h.afterUpstream(tw, reqCopy, r, seen != nil)
	if seen != nil {
		*seen = v
		return nil
	}
	h.act(exchange{path: r.URL.Path, vars: requestVars{r}}, v)
	return nil
}

// readsLater reports whether the exchange is a browser's response copied
// whole, whose body is read after the response (see readLater).
func (h *Handler) readsLater(tw *teeWriter) bool {
	return !h.spec.FromRequest && tw.capturing && !tw.overflow
}

// readLater reads a browser's response for its sale after the response
// has ended. The browser never retries, so nothing it could wait for
// would protect the sale, while over HTTP/2 and chunked HTTP/1.1 the
// response ends only when the handler returns. What the reading needs of
// the request is taken now, while it may still be touched: the copied
// body, its encoding, its path and its placeholders' values.
func (h *Handler) readLater(tw *teeWriter, r *http.Request) {
	buf := tw.takeBody()
	encoding := tw.Header().Get("Content-Encoding")
	resolve := sale.Snapshot(h.placeholders, requestResolver(r))
	vars := newLateVars(r)
	x := exchange{path: r.URL.Path, vars: vars}
	h.app.later(func() {
		defer vars.settle()
		defer func() {
			if p := recover(); p != nil {
				if !vars.isSet() { // the body was not read to an outcome
					h.skip(x, "panic", fmt.Sprint(p))
				}
				panic(p) // later logs it, with where it happened
			}
		}()
		v := h.read(buf.Bytes(), encoding, resolve, false)
		// The verdict holds copies, not slices of the copy: the buffer
		// goes back before the commit, which may wait for the disk.
		putBuffer(buf)
		h.act(x, v)
	})
}

// wantsResponse reports whether a response may carry a sale and so is worth
// copying: a matching status and a JSON body that is not an event stream.
func (h *Handler) wantsResponse(status int, header http.Header) bool {
	if h.spec.FromRequest || status == http.StatusNoContent || status == http.StatusNotModified {
		return false
	}
	return h.statusMatches(status) && isJSON(header.Get("Content-Type"))
}

func (h *Handler) statusMatches(status int) bool { return statusIn(h.Status, status) }

// statusIn reports whether status is one of codes, each a code or a class.
func statusIn(codes []int, status int) bool {
	for _, code := range codes {
		if caddyhttp.StatusCodeMatches(status, code) {
			return true
		}
	}
	return false
}

// afterUpstream runs once the upstream is done, on the request's path: for
// a webhook, whose answer is held until its sale is committed; for `caddy
// sale-track try`; and for a browser's response not copied whole (not a
// candidate, or over max_body), which needs no reading. A whole copy of a
// browser's response is read after the response instead (readLater). It
// says what the exchange came to; explain asks for how the body was read
// as well.
func (h *Handler) afterUpstream(tw *teeWriter, reqCopy *bodyCopy, r *http.Request, explain bool) verdict {
	status := tw.status
	if !tw.wroteHeader {
		status = http.StatusOK
	}
	var raw []byte
	var encoding string
	switch {
	case h.spec.FromRequest:
		body, overflow := reqCopy.result()
		if !h.statusMatches(status) {
			return verdict{kind: verdictNotAccepted, status: status}
		}
		if overflow {
			return skipped("over_max_body", "request body is larger than max_body")
		}
		raw, encoding = body, r.Header.Get("Content-Encoding")
		if raw == nil {
			return skipped("incomplete_body", "the upstream did not read the whole request body")
		}
	default:
		if !tw.capturing {
			return verdict{kind: verdictNotCandidate, status: status} // the common case, nothing to say
		}
		if tw.overflow {
			return skipped("over_max_body", "response body is larger than max_body")
		}
		raw, encoding = tw.body(), tw.Header().Get("Content-Encoding")
	}
	return h.read(raw, encoding, requestResolver(r), explain)
}

// read decodes a copied body and reads it.
func (h *Handler) read(raw []byte, encoding string, resolve sale.Resolver, explain bool) verdict {
	body, release, err := decodeBody(encoding, raw, h.MaxBody)
	if err != nil {
		reason := "decode"
		if errors.Is(err, errTooLarge) {
			reason = "over_max_body"
		}
		return skipped(reason, err.Error())
	}
	defer release()
	return h.extract(body, resolve, explain)
}

// requestResolver resolves placeholders with the request's replacer.
func requestResolver(r *http.Request) sale.Resolver {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	return func(placeholder string) string {
		if repl == nil {
			return ""
		}
		return repl.ReplaceAll(placeholder, "")
	}
}

// extract reads the decoded body, and fills a missing customer or click
// from the binding. An explained extraction (`caddy sale-track try`)
// leaves the binding out: it opens no storage.
func (h *Handler) extract(body []byte, resolve sale.Resolver, explain bool) verdict {
	fill := h.fill
	if explain {
		fill = nil
	}
	v := h.judge(h.spec.ExtractFilled(body, resolve, time.Now(), fill))
	if explain {
		e := h.spec.Explain(body, resolve)
		v.explained = &e
	}
	return v
}

// skip records a candidate that could not be read as a sale. This and the
// other log lines name the request by its path, never its query, which can
// carry an email or a token (a verification link); the access log has the
// rest.
func (h *Handler) skip(x exchange, reason, detail string) {
	x.vars.set("skipped", "", "")
	metricSkipped(h.Route, h.kind, reason)
	h.observe(outcomeSkipped, reason, reason+": "+detail, "")
	h.logger.Warn("response not inspected, no sale",
		zap.String("route", h.Route),
		zap.String("reason", reason),
		zap.String("detail", detail),
		zap.String("path", x.path))
}

// exchange is what acting on a verdict needs of its request: its path, for
// the log lines, and where its outcome goes.
type exchange struct {
	path string
	vars saleVars
}

// isUpgrade spots a protocol upgrade (WebSocket): the connection is
// hijacked and nothing about it is a sale.
func isUpgrade(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" && strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
