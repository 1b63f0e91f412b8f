package caddymodule

import (
	"net/http"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// saleVars receives what an exchange came to, for the access log and
// later handlers: {http.vars.sale_track.status}, .invoice_id and
// .event_id, and the access log's fields sale_track and sale_event_id.
type saleVars interface {
	set(status, invoiceID, eventID string)
}

// requestVars sets the outcome on the request at once, while its handler
// still runs.
type requestVars struct{ r *http.Request }

func (v requestVars) set(status, invoiceID, eventID string) {
	ctx := v.r.Context()
	caddyhttp.SetVar(ctx, "sale_track.status", status)
	if invoiceID != "" {
		caddyhttp.SetVar(ctx, "sale_track.invoice_id", invoiceID)
	}
	if eventID != "" {
		caddyhttp.SetVar(ctx, "sale_track.event_id", eventID)
	}
	if extra, ok := ctx.Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		extra.Add(zap.String("sale_track", status))
		if eventID != "" {
			extra.Add(zap.String("sale_event_id", eventID))
		}
	}
}

// lateVars is the outcome of a body read after its response: the
// request's variables and access log fields are set to it while the
// handler runs, and each waits for the reading only when it is read. An
// access log, which Caddy writes before the response ends, waits for the
// reading, the binding lookup included; a site without one never waits.
// Unlike requestVars, the invoice and event id variables are set even
// when the outcome has none: they read as "".
type lateVars struct {
	once  sync.Once
	ready chan struct{}
	// Written once, before ready is closed.
	status, invoiceID, eventID string
}

// newLateVars sets a late outcome on r's variables and access log fields.
func newLateVars(r *http.Request) *lateVars {
	l := &lateVars{ready: make(chan struct{})}
	ctx := r.Context()
	caddyhttp.SetVar(ctx, "sale_track.status", lateVar{l, func(l *lateVars) string { return l.status }})
	caddyhttp.SetVar(ctx, "sale_track.invoice_id", lateVar{l, func(l *lateVars) string { return l.invoiceID }})
	caddyhttp.SetVar(ctx, "sale_track.event_id", lateVar{l, func(l *lateVars) string { return l.eventID }})
	if extra, ok := ctx.Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		extra.Add(zap.Inline(l))
	}
	return l
}

// set records the outcome; only the first call counts.
func (l *lateVars) set(status, invoiceID, eventID string) {
	l.once.Do(func() {
		l.status, l.invoiceID, l.eventID = status, invoiceID, eventID
		close(l.ready)
	})
}

// settle ends the wait with no outcome if none was set, so that nothing
// waits for ever on a reading that ended without one.
func (l *lateVars) settle() { l.set("", "", "") }

// isSet reports whether the outcome was set.
func (l *lateVars) isSet() bool {
	select {
	case <-l.ready:
		return true
	default:
		return false
	}
}

// MarshalLogObject adds the access log's fields, as requestVars does.
func (l *lateVars) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	<-l.ready
	if l.status != "" {
		enc.AddString("sale_track", l.status)
	}
	if l.eventID != "" {
		enc.AddString("sale_event_id", l.eventID)
	}
	return nil
}

// lateVar is one variable of a late outcome; Caddy's placeholders and
// log_append read it through String.
type lateVar struct {
	l     *lateVars
	field func(*lateVars) string
}

func (v lateVar) String() string {
	<-v.l.ready
	return v.field(v.l)
}
