package delivery

import "github.com/saletrack/caddy-saletrack/sale"

// Outcome is how one event left the queue, for an observer that shows
// deliveries as they happen (the module's live capture log).
type Outcome struct {
	// Event is the event; nil for a record that could not be decoded.
	Event *sale.Event
	// Delivered is true when every sink accepted it, false when it became
	// a dead letter.
	Delivered bool
	// Reason is why it became a dead letter ("permanent: 422"), and Code
	// its kind ("permanent", "expired", "undecodable"); both empty for a
	// delivery.
	Reason, Code string
}

// observe hands an outcome to the configured observer, if any.
func (o EmitterOptions) observe(out Outcome) {
	if o.Observe != nil {
		o.Observe(out)
	}
}
