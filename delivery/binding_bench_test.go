package delivery

import (
	"fmt"
	"testing"
)

// What the binding costs a webhook sale: a lookup by email, then by
// customer.
func BenchmarkBindingFill(b *testing.B) {
	ob := obOpen(b, OutboxOptions{})
	for i := range 1000 {
		if _, err := ob.Enqueue(bindLead(fmt.Sprint("user_", i), fmt.Sprint("clk_", i), fmt.Sprintf("u%d@example.com", i))); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; b.Loop(); i++ {
		ev := obSale(b, "inv", obT0)
		ev.CustomerExternalID, ev.ClickID, ev.CustomerEmail = "", "", fmt.Sprintf("u%d@example.com", i%1000)
		if filled, err := ob.Fill(ev); err != nil || !filled.Any() {
			b.Fatal(filled, err)
		}
	}
}
