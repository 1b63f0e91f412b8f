package e2e

import (
	"testing"

	"github.com/saletrack/caddy-saletrack/internal/natstest"
)

// In a fleet the binding is shared: a sign-up captured through Caddy node
// A teaches the fleet's KV bucket, and Stripe's webhook for a session with
// no metadata, landing on node B behind the load balancer, is filled from
// it by the buyer's email: the sale carries the lead's customer and click.
func TestFleetWebhookOnAnotherNodeFindsItsCustomerAndClick(t *testing.T) {
	cluster := natstest.StartCluster(t)
	plat, shop := newPlatform(t), startShop(t)
	nats := "nats " + cluster.URL()
	a := bindingSiteOn(t, plat, shop, nats)
	b := bindingSiteOn(t, plat, shop, nats)
	for i, s := range []*bindingSite{a, b} {
		(&caddyNode{name: []string{"a", "b"}[i], proc: s.proc}).waitCluster(t, "ready")
	}

	a.landAndSignUp("cl_landing", "user_123", "alex@example.com", 0)
	// The lead's delivery can overtake its lesson: wait for both entries
	// (customer → click, email → customer).
	a.waitStat("node a to teach the binding", func(st deliveryStats) bool { return st.BindingsLearned >= 2 })
	if learned := b.stats().BindingsLearned; learned != 0 {
		t.Fatalf("node b learned %d entries itself; the test needs the lesson to come from node a", learned)
	}

	if status := b.stripeWebhook("cs_test_fleet", " Alex@Example.COM"); status != 200 {
		t.Fatalf("webhook answered %d", status)
	}
	sale := b.waitPath("/track/sale", 1)[0]
	if sale["customerExternalId"] != "user_123" || sale["clickId"] != "cl_landing" {
		t.Fatalf("sale %v: want customer user_123 and click cl_landing", sale)
	}
}
