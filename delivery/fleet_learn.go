package delivery

import (
	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/sale"
)

// learn teaches the shared binding, if the node uses one, what an event
// committed to the stream shows, a duplicate included (a repeat still
// shows its customer's click), as the outbox learns from what it
// enqueues. A lesson that cannot be written costs a later webhook its
// fill, never the event.
func (f *Fleet) learn(ev *sale.Event) {
	if f.shared == nil {
		return
	}
	if err := f.shared.Learn(ev); err != nil {
		f.log().Warn("the binding could not learn from an event; a later webhook sale of its customer may lack the click",
			zap.String("event_id", ev.ID), zap.Error(err))
	}
}
