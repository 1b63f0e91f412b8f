package caddymodule

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/saletrack/caddy-saletrack/sale"
)

// bindingFiller completes the route's sales from what the proxy learned
// before (delivery's binding): a missing customer id from the sale's email,
// a missing click id from its customer. A binding that cannot be read
// fills nothing; the sale is judged on its own fields.
func (h *Handler) bindingFiller() sale.Filler {
	return func(ev *sale.Event) {
		d := h.app.currentPipeline()
		if d == nil {
			return
		}
		filled, err := d.outbox.Fill(ev)
		if err != nil {
			h.logger.Warn("the binding could not be read; the sale keeps only its own fields",
				zap.String("route", h.Route), zap.Error(err))
			return
		}
		if filled.Customer {
			metricFilled(h.Route, sale.FieldCustomerID)
		}
		if filled.Click {
			metricFilled(h.Route, sale.FieldClickID)
		}
		if !filled.Customer && !filled.Click {
			return
		}
		if ce := h.logger.Check(zapcore.DebugLevel, "sale filled in from the binding"); ce != nil {
			ce.Write(zap.String("route", h.Route),
				zap.String("invoice_id", ev.InvoiceID),
				zap.Bool("customer_id_by_email", filled.Customer),
				zap.Bool("click_id_by_customer", filled.Click),
				zap.String("customer_id", ev.CustomerExternalID),
				zap.String("click_id", ev.ClickID))
		}
	}
}
