package caddymodule

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/saletrack/caddy-saletrack/sale"
)

// bindingFiller completes the route's sales from what the proxy learned
// before (delivery's binding): from the checkout reference the sale
// carries, a missing customer id from its email, a missing click id from
// its customer. A binding that cannot be read fills nothing; the sale is
// judged on its own fields.
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
		if filled.Customer != "" {
			metricFilled(h.Route, sale.FieldCustomerID)
		}
		if filled.Click != "" {
			metricFilled(h.Route, sale.FieldClickID)
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

// bindRefsLater records a checkout's references after its response, off
// the browser's path. A record that cannot be written costs the webhook
// its click, never the response.
func (a *App) bindRefsLater(got sale.RefCapture) {
	a.later(func() {
		d := a.currentPipeline()
		if d == nil {
			return
		}
		if err := d.binding().BindRefs(got.Refs, got.Click, got.Customer); err != nil {
			a.logger.Warn("a checkout reference could not be recorded; its webhook sale may lack the click",
				zap.Strings("references", got.Refs), zap.Error(err))
		}
	})
}
