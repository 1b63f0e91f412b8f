package delivery

import (
	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/sale"
)

// LearnInto makes b the binding that learns from every event this node
// commits to the stream, a duplicate included (a repeat still shows its
// customer's click), as the outbox learns from what it enqueues. Call it
// before Start.
func (f *Fleet) LearnInto(b Binding) { f.binding = b }

// learn teaches the binding what ev shows. A lesson that cannot be
// written costs a later webhook its fill, never the event.
func (f *Fleet) learn(ev *sale.Event) {
	if f.binding == nil {
		return
	}
	if err := f.binding.Learn(ev); err != nil {
		f.log().Warn("the binding could not learn from an event; a later webhook sale of its customer may lack the click",
			zap.String("event_id", ev.ID), zap.Error(err))
	}
}
