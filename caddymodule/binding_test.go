package caddymodule

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/saletrack/caddy-saletrack/sale"
)

// filled_total counts a filled sale once it is captured: not again for a
// provider's retry of it, not for one the binding did not fill.
func TestFilledIsCountedAtCapture(t *testing.T) {
	a := newTestApp(t)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	const route = "filled_at_capture"
	customer := filledTotal.WithLabelValues(route, string(sale.FieldCustomerID))
	click := filledTotal.WithLabelValues(route, string(sale.FieldClickID))
	filled := func(invoice string) *sale.Event {
		ev := testSale(invoice)
		ev.Route, ev.ClickID = route, "cl_1"
		ev.SetOrigin(sale.FieldCustomerID, sale.OriginBinding)
		ev.SetOrigin(sale.FieldClickID, sale.OriginPlaceholder)
		return ev
	}
	// The counters are the process's, and the outbox is new each run.
	customerBefore, clickBefore := counterValue(t, customer), counterValue(t, click)
	for _, ev := range []*sale.Event{filled("inv_filled"), filled("inv_filled")} {
		a.commit(ev)
	}
	if got := counterValue(t, customer) - customerBefore; got != 1 {
		t.Errorf("filled_total{field=customer_id} rose by %v after a capture and its retry, want 1", got)
	}
	if got := counterValue(t, click) - clickBefore; got != 0 {
		t.Errorf("filled_total{field=click_id} rose by %v for a click from a cookie, want 0", got)
	}
}

// counterValue reads a counter's value.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// While the file stays full, one WARN a minute says references are
// refused; the rest go to DEBUG.
func TestWarnPace(t *testing.T) {
	var p warnPace
	t0 := time.Unix(1_800_000_000, 0)
	for i, step := range []struct {
		at  time.Duration
		due bool
	}{{0, true}, {time.Second, false}, {59 * time.Second, false}, {time.Minute, true}, {time.Minute + time.Second, false}} {
		if got := p.due(t0.Add(step.at)); got != step.due {
			t.Errorf("step %d (+%s): due = %v", i, step.at, got)
		}
	}
}
