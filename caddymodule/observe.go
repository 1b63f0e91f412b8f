package caddymodule

import (
	"fmt"
	"time"

	"github.com/bojanz/currency"
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/delivery"
	"github.com/saletrack/caddy-saletrack/sale"
)

// DefaultRecent is how many outcomes the live capture log keeps.
const DefaultRecent = 200

// maxRecent bounds the recent option: the log is held in memory.
const maxRecent = 100000

var errRecent = fmt.Errorf("want a number from 1 to %d", maxRecent)

// checkRecent is the rule of the recent option.
func checkRecent(n int) error {
	if n < 1 || n > maxRecent {
		return errRecent
	}
	return nil
}

// The process's live capture log, the status page's figures and the
// no-sale watch. Every outcome reaches all three through record.
var (
	recent  = newRecentLog(DefaultRecent)
	figures = newTally()
	noSales = newNoSaleWatch()
)

// record adds an outcome to the log, the figures and the watch; usd is a
// capture's value in USD, when it has one.
func record(e outcomeEntry, usd *currency.Amount) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	figures.add(e, usd)
	noSales.see(e, saleTrackLog)
	// The log last: whoever sees the outcome listed (a follower, a test)
	// sees the figures and the watch already moved by it.
	recent.add(e)
}

func saleTrackLog() *zap.Logger { return caddy.Log().Named("sale_track") }

// observe records what became of a candidate response on this route that
// was no sale: not_sale, rejected or skipped, with its reason's short name
// (code) and its detail.
func (h *Handler) observe(outcome, code, detail, invoiceID string) {
	record(outcomeEntry{Route: h.Route, Kind: eventLabel(h.kind), Outcome: outcome, Reason: detail, InvoiceID: invoiceID, code: code}, nil)
}

// observeCommit records a commit's outcome; err is a failed one's cause.
func observeCommit(ev *sale.Event, outcome string, err error) {
	e := eventEntry(ev, outcome)
	var usd *currency.Amount
	if outcome == outcomeCaptured && ev.USD != nil {
		usd = &ev.USD.Amount
	}
	if err != nil {
		e.Reason, e.code = err.Error(), "storage"
	}
	record(e, usd)
}

// observeDelivery records a delivery or a dead letter; the emitter calls
// it from its worker.
func observeDelivery(o delivery.Outcome) {
	e := outcomeEntry{Outcome: outcomeDelivered, Kind: sale.KindSale}
	if o.Event != nil {
		e = eventEntry(o.Event, outcomeDelivered)
	}
	if !o.Delivered {
		e.Outcome, e.Reason, e.code = outcomeDead, o.Reason, o.Code
	}
	record(e, nil)
}

func eventEntry(ev *sale.Event, outcome string) outcomeEntry {
	return outcomeEntry{Route: ev.Route, Kind: eventLabel(ev.Kind), Outcome: outcome, InvoiceID: ev.InvoiceID, EventID: ev.ID, Origin: ev.Origin}
}
