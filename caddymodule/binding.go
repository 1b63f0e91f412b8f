package caddymodule

import (
	"errors"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/saletrack/caddy-saletrack/delivery"
	"github.com/saletrack/caddy-saletrack/sale"
)

// bindingFiller completes the route's sales from what the proxy learned
// before (delivery's binding): from the checkout reference the sale
// carries, a missing customer id from its email, a missing click id from
// its customer. A binding that cannot be read fills nothing; the sale is
// judged on its own fields. Its fills are counted once it is captured
// (countFilled).
func (h *Handler) bindingFiller() sale.Filler {
	return func(ev *sale.Event) {
		d := h.app.currentPipeline()
		if d == nil {
			return
		}
		filled, err := d.binding().Fill(ev)
		if err != nil {
			h.logger.Warn("the binding could not be read; the sale keeps only its own fields",
				zap.String("route", h.Route), zap.Error(err))
			return
		}
		if !filled.Any() {
			return
		}
		if ce := h.logger.Check(zapcore.DebugLevel, "sale filled in from the binding"); ce != nil {
			ce.Write(zap.String("route", h.Route),
				zap.String("invoice_id", ev.InvoiceID),
				zap.String("customer_id_by", filled.Customer),
				zap.String("click_id_by", filled.Click),
				zap.String("customer_id", ev.CustomerExternalID),
				zap.String("click_id", ev.ClickID))
		}
	}
}

// countFilled counts the fields of a captured event the binding filled
// in. It is counted at capture, not at the fill: a filled sale may still
// be rejected for another field, or be a provider's retry of one already
// captured.
func countFilled(ev *sale.Event) {
	if ev.Origin == nil {
		return
	}
	if ev.Origin.CustomerExternalID == sale.OriginBinding {
		metricFilled(ev.Route, sale.FieldCustomerID)
	}
	if ev.Origin.ClickID == sale.OriginBinding {
		metricFilled(ev.Route, sale.FieldClickID)
	}
}

// bindRefsLater records a checkout's references after its response, off
// the browser's path; see bindRefs.
func (a *App) bindRefsLater(got sale.RefCapture, failed func()) {
	a.later(func() { a.bindRefs(got, failed) })
}

// bindRefs records a checkout's references. A record that cannot be
// written costs the webhook its click, never the response; failed, when
// not nil, is then called, so that a caller skipping pairs it recorded
// tries this one again.
func (a *App) bindRefs(got sale.RefCapture, failed func()) {
	err := errNoPipeline
	if d := a.currentPipeline(); d != nil {
		err = d.binding().BindRefs(got.Refs, got.Click, got.Customer)
	}
	if err == nil {
		return
	}
	level := zapcore.WarnLevel
	if errors.Is(err, delivery.ErrStorageFull) && !refusedForRoom.due(time.Now()) {
		level = zapcore.DebugLevel
	}
	if ce := a.logger.Check(level, "a checkout reference could not be recorded; its webhook sale may lack the click"); ce != nil {
		ce.Write(zap.Strings("references", got.Refs), zap.Error(err))
	}
	if failed != nil {
		failed()
	}
}

// refusedForRoom paces the WARN of references refused because the file
// is full: while it stays full, every storefront request with a cart may
// try again, and one WARN a minute says so.
var refusedForRoom warnPace

// warnPace lets one WARN through per minute.
type warnPace struct{ last atomic.Int64 }

// due reports whether a minute has passed since the last WARN it let
// through, and if so counts this one as the last.
func (p *warnPace) due(now time.Time) bool {
	last := p.last.Load()
	return now.UnixNano()-last >= int64(time.Minute) && p.last.CompareAndSwap(last, now.UnixNano())
}

// errNoPipeline is why a reference is not recorded when the app never
// opened its outbox.
var errNoPipeline = errors.New("the sale_track app did not start its outbox")
