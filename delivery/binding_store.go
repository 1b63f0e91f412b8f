package delivery

import "github.com/saletrack/caddy-saletrack/sale"

// Binding is where what the proxy learned is kept: the node's own outbox
// when it works alone, the fleet's KV bucket in a fleet. The pipeline
// picks one; the handlers call it alone.
type Binding interface {
	// Fill completes a sale from the binding (see Outbox.Fill).
	Fill(ev *sale.Event) (Filled, error)
	// BindRefs records a checkout's references (see Outbox.BindRefs).
	BindRefs(refs []string, click, customer string) error
	// Learn teaches the binding what a captured event shows.
	Learn(ev *sale.Event) error
}

var _ Binding = (*Outbox)(nil)
