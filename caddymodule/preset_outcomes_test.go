package caddymodule

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/saletrack/caddy-saletrack/sale"
)

// serveStripe sends a Stripe fixture through a stripe-preset handler whose
// shop accepts it, and returns what the handler logged.
func serveStripe(t *testing.T, fixture string) *observer.ObservedLogs {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "sale", "testdata", "presets", "stripe", fixture))
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Preset: "stripe", MaxBody: DefaultMaxBody, Status: []int{2}, Route: "stripe_test"}
	spec, err := sale.BuildSpec(h.specConfig())
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	h.spec, h.app, h.logger = spec, newTestApp(t), zap.New(core)
	h.wants = h.wantsResponse
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, _ = io.ReadAll(r.Body)
		_, err := io.WriteString(w, "ok")
		return err
	})
	if err := h.ServeHTTP(newWatchedWriter(), timingRequest(string(body)), next); err != nil {
		t.Fatal(err)
	}
	return logs
}

// An untagged PaymentIntent is no sale of its webhook (its Checkout
// Session carries the sale), counted under its own reason.
func TestUntaggedIntentIsCountedAsSuch(t *testing.T) {
	counter := skippedTotal.WithLabelValues("stripe_test", "sale", "untagged_intent")
	value := func() float64 {
		var m dto.Metric
		if err := counter.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	before := value()
	serveStripe(t, "payment_intent_succeeded_untagged.json")
	if got := value(); got != before+1 {
		t.Fatalf("skipped_total{reason=untagged_intent} = %v, want %v", got, before+1)
	}
}

// A paid session without the shop's customer id is rejected with a WARN
// naming Stripe's object, so the shop can find the payment.
func TestRejectedSaleNamesTheProvidersObject(t *testing.T) {
	logs := serveStripe(t, "checkout_session_completed_without_customer.json")
	warns := logs.FilterMessage("sale rejected").All()
	if len(warns) != 1 {
		t.Fatalf("%d rejection WARNs", len(warns))
	}
	object, _ := warns[0].ContextMap()["object"].(string)
	if !strings.HasPrefix(object, "cs_") || warns[0].Level != zapcore.WarnLevel {
		t.Fatalf("WARN %v: want Stripe's cs_ object id", warns[0].ContextMap())
	}
}
