package caddymodule

import (
	"testing"
	"time"

	"github.com/bojanz/currency"
)

func usdAmount(t testing.TB, n string) *currency.Amount {
	t.Helper()
	a, err := currency.NewAmount(n, "USD")
	if err != nil {
		t.Fatal(err)
	}
	return &a
}

// Captures count in the last hour while they are under an hour old, and
// today until midnight UTC; revenue adds up exactly.
func TestTallyHourAndDay(t *testing.T) {
	tl := newTally()
	day := time.Date(2026, 12, 2, 22, 30, 0, 0, time.UTC)
	capture := func(at time.Time, amount string) {
		tl.add(outcomeEntry{Time: at, Route: "shop", Kind: "sale", Outcome: outcomeCaptured}, usdAmount(t, amount))
	}
	capture(day.Add(-2*time.Hour), "0.10")
	capture(day.Add(-30*time.Minute), "0.20")
	capture(day, "0.30")
	tl.add(outcomeEntry{Time: day, Route: "shop", Kind: "sale", Outcome: outcomeNotSale, code: "condition"}, nil)
	tl.add(outcomeEntry{Time: day, Route: "signup", Kind: "lead", Outcome: outcomeCaptured}, nil)

	routes, outcomes := tl.snapshot(day.Add(time.Minute))
	if len(routes) != 2 {
		t.Fatalf("routes %+v, want shop and signup", routes)
	}
	shop := routes[0]
	if shop.Route != "shop" || shop.Today.N != 3 || shop.Today.USD.Number() != "0.60" || shop.LastHour.N != 2 || shop.LastHour.USD.Number() != "0.50" {
		t.Errorf("shop: %+v, want 3 today (0.60 USD), 2 in the last hour (0.50 USD)", shop)
	}
	if lead := routes[1]; lead.Kind != "lead" || lead.Today.N != 1 || lead.Today.USD.CurrencyCode() != "" {
		t.Errorf("signup: %+v, want 1 lead and no revenue", lead)
	}
	want := map[outcomeFigure]bool{
		{Route: "shop", Outcome: outcomeCaptured, Count: 3}:                     true,
		{Route: "shop", Outcome: outcomeNotSale, Reason: "condition", Count: 1}: true,
		{Route: "signup", Outcome: outcomeCaptured, Count: 1}:                   true,
	}
	if len(outcomes) != len(want) {
		t.Errorf("outcomes %+v, want %v", outcomes, want)
	}
	for _, o := range outcomes {
		if !want[o] {
			t.Errorf("unexpected outcome %+v", o)
		}
	}

	routes, _ = tl.snapshot(day.Add(50 * time.Minute))
	if routes[0].LastHour.N != 1 {
		t.Errorf("50 minutes on, the last hour holds %d, want 1", routes[0].LastHour.N)
	}
	routes, outcomes = tl.snapshot(day.Add(2 * time.Hour)) // past midnight UTC
	if len(routes) != 0 || len(outcomes) != 0 {
		t.Errorf("a new day starts with %+v and %+v, want nothing", routes, outcomes)
	}
}

// Just after midnight UTC, the last hour still counts the captures made
// before it, though today has none yet.
func TestTallyLastHourAcrossMidnight(t *testing.T) {
	tl := newTally()
	before := time.Date(2026, 12, 2, 23, 50, 0, 0, time.UTC)
	tl.add(outcomeEntry{Time: before, Route: "shop", Kind: "sale", Outcome: outcomeCaptured}, usdAmount(t, "5.00"))
	routes, _ := tl.snapshot(before.Add(20 * time.Minute))
	if len(routes) != 1 || routes[0].Today.N != 0 || routes[0].LastHour.N != 1 || routes[0].LastHour.USD.Number() != "5.00" {
		t.Errorf("at 00:10 UTC: %+v, want shop with none today and 1 (5.00 USD) in the last hour", routes)
	}
}
