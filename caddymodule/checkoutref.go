package caddymodule

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/sale"
)

func init() {
	caddy.RegisterModule(CheckoutRef{})
}

// CheckoutRef watches the route where the shop creates a payment
// provider's checkout (a Stripe Checkout Session, a Paddle transaction)
// and records the provider's reference from its response with the
// browser's click and the shop's customer. The provider's webhook comes
// from its servers, with no cookie; when it carries the same reference,
// sale_track fills its click and customer from this record. The response
// streams to the browser untouched; the record is written after it.
type CheckoutRef struct {
	// Preset fills ref and customer_id from a commerce platform's own
	// responses: medusa (its cart routes answer the cart's id and
	// customer, and its order completion carries the cart id). Sources
	// given here replace the preset's. Default: none.
	Preset string `json:"preset,omitempty"`

	// Ref lists the sources of the provider's reference in the response:
	// gjson paths into its JSON body, or placeholders (such as
	// {http.response.header.Location} for a redirect to the checkout).
	// Every source that yields a value is recorded. A URL yields the
	// provider's id in it (a Stripe Checkout URL's cs_…, Paddle's
	// ?_ptxn=txn_…); a Stripe client secret yields its Checkout
	// Session's id (embedded Checkout) or its PaymentIntent's.
	// Required unless a preset gives it.
	Ref []string `json:"ref,omitempty"`

	// CustomerID lists the sources of the shop's customer id, tried in
	// order, such as a header the shop's auth sets or a path in the
	// response. Default: none (the webhook's email may still find the
	// customer).
	CustomerID []string `json:"customer_id,omitempty"`

	// ClickID lists the sources of the browser's click id. Default: as
	// sale_track's, {http.vars.click_id} then the platform's click
	// cookie.
	ClickID []string `json:"click_id,omitempty"`

	// Status lists the response statuses that may carry a reference: a
	// full code (303) or a class (2 for 2xx). Default: [2, 3], a JSON
	// answer or a redirect to the checkout.
	Status []int `json:"status,omitempty"`

	// MaxBody bounds the response body kept for reading, in bytes, after
	// decoding. Default: 1048576 (1 MiB).
	MaxBody int64 `json:"max_body,omitempty"`

	spec *sale.RefSpec
	// placeholders are those the spec reads, resolved before the
	// response is read.
	placeholders []string
	app          *App
	logger       *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (CheckoutRef) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.checkout_ref",
		New: func() caddy.Module { return new(CheckoutRef) },
	}
}

// Provision finds the sale_track app, for its platform's click cookie and
// its binding, and reads the sources.
func (c *CheckoutRef) Provision(ctx caddy.Context) error {
	c.logger = ctx.Logger()
	app, err := saleTrackApp(ctx)
	if err != nil {
		return err
	}
	c.app = app
	if c.spec, err = c.buildSpec(c.app.platform.ClickCookie); err != nil {
		return err
	}
	c.placeholders = c.spec.Placeholders()
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	if len(c.Status) == 0 {
		c.Status = []int{2, 3}
	}
	registerMetrics(ctx)
	return nil
}

// buildSpec reads the sources, for Provision and the Caddyfile parser.
func (c *CheckoutRef) buildSpec(clickCookie string) (*sale.RefSpec, error) {
	spec, err := sale.BuildRefSpec(c.Preset, c.Ref, c.CustomerID, c.ClickID, clickCookie)
	if err != nil {
		return nil, fmt.Errorf("checkout_ref: %w", err)
	}
	return spec, nil
}

// Validate checks what Provision could not fix.
func (c *CheckoutRef) Validate() error {
	if err := checkMaxBody(c.MaxBody); err != nil {
		return err
	}
	for _, code := range c.Status {
		if err := checkStatus(code); err != nil {
			return err
		}
	}
	return nil
}

// ServeHTTP passes the request on, keeping a copy of a JSON answer, and
// once the response is written records the references it carries.
func (c *CheckoutRef) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if r.Method == http.MethodHead || isUpgrade(r) {
		return next.ServeHTTP(w, r)
	}
	tw := newTeeWriter(w, c.MaxBody, c.wantsResponse)
	defer tw.releaseBuffer()
	if err := next.ServeHTTP(tw, r); err != nil {
		return err
	}
	status := tw.status
	if !tw.wroteHeader {
		status = http.StatusOK
	}
	if !statusIn(c.Status, status) {
		return nil
	}
	// Read after the response, as sale_track reads a browser's, with what
	// is needed of the request taken now.
	overflow := tw.capturing && tw.overflow
	var buf *bytes.Buffer
	if tw.capturing && !tw.overflow {
		buf = tw.takeBody()
	}
	encoding := tw.Header().Get("Content-Encoding")
	resolve := sale.Snapshot(c.placeholders, requestResolver(r))
	path := r.URL.Path
	c.app.later(func() {
		if overflow {
			c.unread(path, errTooLarge)
		}
		var raw []byte
		if buf != nil {
			defer putBuffer(buf)
			raw = buf.Bytes()
		}
		c.record(raw, encoding, resolve, path)
	})
	return nil
}

// record reads a checkout response's references and binds them to its
// click and customer. A body that cannot be decoded yields what the
// placeholders do (a redirect's Location).
func (c *CheckoutRef) record(raw []byte, encoding string, resolve sale.Resolver, path string) {
	var body []byte
	if len(raw) > 0 {
		decoded, release, err := decodeBody(encoding, raw, c.MaxBody)
		if err != nil {
			c.unread(path, err)
		} else {
			defer release()
			body = decoded
		}
	}
	got := c.spec.Read(body, resolve)
	if len(got.Refs) == 0 || (got.Click == "" && got.Customer == "") {
		c.logger.Debug("checkout response without a reference, or a browser without a click or customer: nothing recorded",
			zap.Int("references", len(got.Refs)), zap.Bool("click", got.Click != ""), zap.Bool("customer", got.Customer != ""),
			zap.String("path", path))
		return
	}
	c.app.bindRefs(got, nil)
}

// unread says that a checkout answer's body could not be read, so only
// its placeholders (a Location) gave references: a webhook sale of that
// checkout may lack its click. Once a minute at most, since every
// checkout on the route would say it again.
func (c *CheckoutRef) unread(path string, err error) {
	if !checkoutUnread.due(time.Now()) {
		c.logger.Debug("checkout answer not read", zap.String("path", path), zap.Error(err))
		return
	}
	hint := ""
	if errors.Is(err, errTooLarge) {
		hint = "; raise max_body"
	}
	c.logger.Warn("checkout answer not read: the references in its body are not recorded"+hint,
		zap.String("path", path), zap.Int64("max_body", c.MaxBody), zap.Error(err))
}

// checkoutUnread paces unread's WARN.
var checkoutUnread warnPace

// wantsResponse copies a JSON answer with a matching status.
func (c *CheckoutRef) wantsResponse(status int, header http.Header) bool {
	return statusIn(c.Status, status) && isJSON(header.Get("Content-Type"))
}

// Interface guards
var (
	_ caddy.Provisioner           = (*CheckoutRef)(nil)
	_ caddy.Validator             = (*CheckoutRef)(nil)
	_ caddyhttp.MiddlewareHandler = (*CheckoutRef)(nil)
)
