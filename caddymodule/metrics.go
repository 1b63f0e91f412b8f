package caddymodule

import (
	"errors"
	"maps"
	"strconv"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/delivery"
	"github.com/saletrack/caddy-saletrack/sale"
)

const metricsNamespace = "caddy"
const metricsSubsystem = "sale_track"

// The collectors are created once per process and registered into each
// config's registry (ctx.GetMetricsRegistry() is new on every load), so the
// counts carry across reloads instead of restarting at zero.
var (
	capturedTotal  = counterVec("captured_total", "Sales and leads committed to the outbox.", "route", "event")
	duplicateTotal = counterVec("duplicates_total", "Captures of an invoice id (a lead's customer and event name) already seen within the dedup window, not enqueued.", "route", "event")
	rejectedTotal  = counterVec("rejected_total", "Sales and leads rejected for a missing or invalid field.", "route", "event", "field")
	repairedTotal  = counterVec("repaired_total", "Sales kept with a field's captured value replaced (a timestamp that could not be used: the capture time stands in).", "route", "event", "field")
	skippedTotal   = counterVec("skipped_total", "Candidate bodies not read as a sale (over max_body, malformed, condition not met).", "route", "event", "reason")
	storageFailed  = counterVec("storage_failures_total", "Sales that could not be committed to the outbox (logged at ERROR with every field).", "route", "event")
	revenueUSD     = counterVec("revenue_usd_total", "Captured revenue in USD (a float for monitoring; the outbox keeps exact amounts).", "route")
	filledTotal    = counterVec("filled_total", "Captured sales whose customer id or click id the binding filled in (from their checkout reference, email or customer).", "route", "field")
	fxMissing      = counterVec("fx_missing_rate_total", "Sales in a currency with no exchange rate, sent without a USD amount.", "currency")
	fxStale        = prometheus.NewCounter(prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "fx_stale_total", Help: "Conversions made with rates older than fx_max_age."})
	deliveryStats  = &statsCollector{}
)

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help,
	}, labels)
}

// collectors are every sale_track metric.
func collectors() []prometheus.Collector {
	return []prometheus.Collector{capturedTotal, duplicateTotal, rejectedTotal, repairedTotal, filledTotal, skippedTotal, storageFailed, revenueUSD, fxMissing, fxStale, deliveryStats, fleetStats}
}

var metricsLogOnce sync.Once

// registerMetrics adds the collectors to this config's registry. A second
// handler in the same config finds them registered already: that is fine.
func registerMetrics(ctx caddy.Context) {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return
	}
	for _, c := range collectors() {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				metricsLogOnce.Do(func() { ctx.Logger().Warn("registering sale_track metrics", zap.Error(err)) })
			}
		}
	}
}

// eventLabel is the event label of a kind: "sale" or "lead".
func eventLabel(kind string) string {
	if kind == sale.KindLead {
		return sale.KindLead
	}
	return sale.KindSale
}

func metricCaptured(ev *sale.Event) {
	capturedTotal.WithLabelValues(ev.Route, eventLabel(ev.Kind)).Inc()
	if ev.USD != nil {
		if f, err := strconv.ParseFloat(ev.USD.Amount.Number(), 64); err == nil {
			revenueUSD.WithLabelValues(ev.Route).Add(f)
		}
	}
}

func metricDuplicate(route, kind string) {
	duplicateTotal.WithLabelValues(route, eventLabel(kind)).Inc()
}
func metricRejected(route, kind, field string) {
	rejectedTotal.WithLabelValues(route, eventLabel(kind), field).Inc()
}
func metricSkipped(route, kind, reason string) {
	skippedTotal.WithLabelValues(route, eventLabel(kind), reason).Inc()
}
func metricRepaired(route, kind, field string) {
	repairedTotal.WithLabelValues(route, eventLabel(kind), field).Inc()
}
func metricFilled(route string, field sale.Field) {
	filledTotal.WithLabelValues(route, string(field)).Inc()
}
func metricStorageFailure(route, kind string) {
	storageFailed.WithLabelValues(route, eventLabel(kind)).Inc()
}
func metricFxMissing(currency string) { fxMissing.WithLabelValues(currency).Inc() }
func metricFxStale()                  { fxStale.Inc() }

// statsCollector reads the delivery worker's own counters at scrape time,
// so queue depth and per-sink outcomes need no bookkeeping of their own.
type statsCollector struct{}

var (
	descQueued   = statDesc("queued", "Sales waiting in the outbox.")
	descInFlight = statDesc("in_flight", "Sales being sent now.")
	descDead     = statDesc("dead_letters", "Sales in the dead-letter bucket.")
	descOldest   = statDesc("oldest_queued_age_seconds", "Age of the oldest sale waiting in the outbox.")
	descSent     = statDesc("sent_total", "Sales accepted by a sink.", "sink")
	descRetried  = statDesc("retries_total", "Failed attempts that will be retried.", "sink")
	descFailed   = statDesc("failed_total", "Permanent failures (moved to dead letters).", "sink")
	descDeadTot  = statDesc("dead_lettered_total", "Sales moved to dead letters (permanent failure or too old).")
)

func statDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, name), help, labels, nil)
}

func (statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueued, descInFlight, descDead, descOldest, descSent, descRetried, descFailed, descDeadTot} {
		ch <- d
	}
}

func (statsCollector) Collect(ch chan<- prometheus.Metric) {
	var total delivery.Stats
	sinks := map[string]delivery.SinkStats{}
	for _, d := range liveDeliveries() {
		st := d.emitter.Stats()
		total.Queued += st.Queued
		total.InFlight += st.InFlight
		total.Dead += st.Dead
		total.DeadLettered += st.DeadLettered
		total.OldestAgeSeconds = max(total.OldestAgeSeconds, st.OldestAgeSeconds)
		if d.fleet != nil { // the platform's sinks deliver from the fleet
			maps.Copy(st.Sinks, d.fleet.LocalStats().Sinks)
		}
		for name, s := range st.Sinks {
			acc := sinks[name]
			acc.Sent += s.Sent
			acc.Retried += s.Retried
			acc.Failed += s.Failed
			sinks[name] = acc
		}
	}
	ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(total.Queued))
	ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(total.InFlight))
	ch <- prometheus.MustNewConstMetric(descDead, prometheus.GaugeValue, float64(total.Dead))
	ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, total.OldestAgeSeconds)
	ch <- prometheus.MustNewConstMetric(descDeadTot, prometheus.CounterValue, float64(total.DeadLettered))
	for name, s := range sinks {
		ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(s.Sent), name)
		ch <- prometheus.MustNewConstMetric(descRetried, prometheus.CounterValue, float64(s.Retried), name)
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(s.Failed), name)
	}
}
