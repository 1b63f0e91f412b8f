package caddymodule

import (
	"errors"

	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/sale"
)

// verdictKind is what one exchange came to.
type verdictKind int

const (
	// verdictPassed: not looked at (a HEAD, an upgrade, a webhook without
	// a body).
	verdictPassed verdictKind = iota
	// verdictNotCandidate: the response's status or type is not what the
	// route reads; the common case, and silent.
	verdictNotCandidate
	// verdictNotAccepted: the shop did not accept the webhook.
	verdictNotAccepted
	// verdictSkipped: a candidate that could not be read (too large, not
	// decodable, not JSON).
	verdictSkipped
	// verdictNotSale: a condition did not hold.
	verdictNotSale
	// verdictRejected: a sale that cannot be reported.
	verdictRejected
	// verdictNoClick: a lead without a click, which ties nothing.
	verdictNoClick
	// verdictCaptured: an event to commit.
	verdictCaptured
)

// verdict is what one exchange came to, and what acting on it needs.
type verdict struct {
	kind verdictKind
	// status is the shop's answer, for verdictNotCandidate and
	// verdictNotAccepted.
	status int
	// reason is the metric's reason label and detail the log's, for
	// verdictSkipped, verdictNotSale and verdictNoClick.
	reason, detail string
	notSale        *sale.NotSaleError
	rejected       *sale.RejectError
	// ev is the event read, for verdictCaptured and verdictNoClick.
	ev *sale.Event
	// explained says how the body was read, when asked for.
	explained *sale.Explanation
}

func skipped(reason, detail string) verdict {
	return verdict{kind: verdictSkipped, reason: reason, detail: detail}
}

// judge says what an extraction came to.
func (h *Handler) judge(ev *sale.Event, err error) verdict {
	var notSale *sale.NotSaleError
	var rejected *sale.RejectError
	switch {
	case errors.Is(err, sale.ErrMalformed):
		return skipped("malformed", err.Error())
	case errors.Is(err, sale.ErrTooDeep):
		return skipped("too_deep", err.Error())
	case errors.As(err, &notSale):
		// A condition that names its reason (an untagged Stripe intent) is
		// counted under it; any other under "condition".
		reason := notSale.Reason
		if reason == "" {
			reason = "condition"
		}
		return verdict{kind: verdictNotSale, reason: reason, notSale: notSale}
	case errors.As(err, &rejected):
		return verdict{kind: verdictRejected, rejected: rejected}
	case err != nil:
		return skipped("extract", err.Error())
	}
	ev.Route = h.Route
	if ev.IsLead() && ev.ClickID == "" && !h.FollowUp {
		// A lead ties a customer to a click; without one it ties nothing.
		return verdict{kind: verdictNoClick, reason: "no_click", ev: ev}
	}
	return verdict{kind: verdictCaptured, ev: ev}
}

// act does what the verdict calls for: count and log what was not a
// sale, commit what was.
func (h *Handler) act(x exchange, v verdict) {
	switch v.kind {
	case verdictPassed, verdictNotCandidate:
	case verdictNotAccepted:
		h.logger.Debug("webhook not accepted by the shop, no sale", zap.String("route", h.Route), zap.Int("status", v.status))
	case verdictSkipped:
		h.skip(x, v.reason, v.detail)
	case verdictNotSale:
		x.vars.set("not_sale", "", "")
		metricSkipped(h.Route, h.kind, v.reason)
		h.observe(outcomeNotSale, v.reason, v.notSale.Error(), "")
		h.logger.Debug("not a sale: condition not met", zap.String("route", h.Route), zap.String("condition", v.notSale.Condition),
			zap.String("reason", v.reason), zap.String("path", x.path))
	case verdictRejected:
		rejected := v.rejected
		x.vars.set("rejected", rejected.InvoiceID, "")
		metricRejected(h.Route, h.kind, rejected.Field)
		h.observe(outcomeRejected, rejected.Field, rejected.Error(), rejected.InvoiceID)
		// The provider's object id names the payment in its dashboard,
		// where a shop can see why nothing counted.
		h.logger.Warn(eventLabel(h.kind)+" rejected",
			zap.String("route", h.Route),
			zap.String("field", rejected.Field),
			zap.String("reason", rejected.Reason),
			zap.String("invoice_id", rejected.InvoiceID),
			zap.String("object", rejected.Object),
			zap.String("path", x.path))
	case verdictNoClick, verdictCaptured:
		h.commitEvent(x, v)
	}
}

// commitEvent logs the event's repairs and commits it, unless it is a lead
// without a click.
func (h *Handler) commitEvent(x exchange, v verdict) {
	ev := v.ev
	for _, repair := range ev.Repairs {
		metricRepaired(h.Route, h.kind, string(repair.Field))
		h.logger.Warn("sale kept with a field replaced",
			zap.String("route", h.Route),
			zap.String("field", string(repair.Field)),
			zap.String("reason", repair.Reason),
			zap.String("invoice_id", ev.InvoiceID),
			zap.String("path", x.path))
	}
	if v.kind == verdictNoClick {
		x.vars.set("skipped", "", "")
		metricSkipped(h.Route, h.kind, v.reason)
		h.observe(outcomeSkipped, v.reason, "no_click: a lead without a click is not attributable", "")
		h.logger.Debug("lead without a click: not attributable", zap.String("route", h.Route), zap.String("path", x.path))
		return
	}
	if h.spec.FromRequest {
		// The provider retries until it gets a 2xx, and its 2xx is held
		// until this returns: a crash before the commit makes it retry.
		x.vars.set(h.app.commit(ev), ev.InvoiceID, ev.ID)
		return
	}
	// A browser's response has already ended (readLater): its outcome is
	// that the sale was read, and the commit follows at once. A duplicate
	// or a failure found by the commit is counted and logged there; waiting
	// for it would make an access log that shows the outcome wait for the
	// disk.
	x.vars.set(outcomeCaptured, ev.InvoiceID, ev.ID)
	h.app.commit(ev)
}
