package delivery

import (
	"time"

	"github.com/saletrack/caddy-saletrack/internal/jsonwrite"
	"github.com/saletrack/caddy-saletrack/sale"
)

// appendNewRecord appends a just-captured event's outbox record, as
// json.Marshal(record{Event: …, NextAttempt: now, Since: since,
// EnqueuedAt: now}) writes it.
func appendNewRecord(dst []byte, e *sale.Event, now, since time.Time) ([]byte, error) {
	var err error
	dst = append(dst, `{"event":`...)
	if dst, err = e.AppendRecord(dst); err != nil {
		return dst, err
	}
	dst = append(dst, `,"attempts":0,"next_attempt":`...)
	if dst, err = jsonwrite.Time(dst, now); err != nil {
		return dst, err
	}
	dst = append(dst, `,"since":`...)
	if dst, err = jsonwrite.Time(dst, since); err != nil {
		return dst, err
	}
	dst = append(dst, `,"enqueued_at":`...)
	if dst, err = jsonwrite.Time(dst, now); err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}
