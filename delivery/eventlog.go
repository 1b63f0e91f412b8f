package delivery

import (
	"github.com/saletrack/caddy-saletrack/sale"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// eventLog writes log lines about one queued event, each carrying the
// event's seq, id and invoice id. The fields are attached only to a line
// that is written: zap's Logger.With builds a new core on every call,
// which cost a fifth of a delivery's CPU when, as usual, nothing was
// logged at all.
type eventLog struct {
	base   *zap.Logger
	fields [3]zap.Field
	n      int
}

func newEventLog(base *zap.Logger, seq uint64) eventLog {
	l := eventLog{base: base, n: 1}
	l.fields[0] = zap.Uint64("seq", seq)
	return l
}

// named adds the event's id and invoice id, once it is decoded.
func (l *eventLog) named(ev *sale.Event) {
	l.fields[1] = zap.String("event_id", ev.ID)
	l.fields[2] = zap.String("invoice_id", ev.InvoiceID)
	l.n = 3
}

// enabled says whether a line at lvl would be written, so a caller can
// skip building costly fields.
func (l *eventLog) enabled(lvl zapcore.Level) bool { return l.base.Core().Enabled(lvl) }

func (l *eventLog) write(lvl zapcore.Level, msg string, fields ...zap.Field) {
	if ce := l.base.Check(lvl, msg); ce != nil {
		all := make([]zap.Field, 0, l.n+len(fields))
		ce.Write(append(append(all, l.fields[:l.n]...), fields...)...)
	}
}

func (l *eventLog) Debug(msg string, fields ...zap.Field) {
	l.write(zapcore.DebugLevel, msg, fields...)
}
func (l *eventLog) Warn(msg string, fields ...zap.Field) { l.write(zapcore.WarnLevel, msg, fields...) }
func (l *eventLog) Error(msg string, fields ...zap.Field) {
	l.write(zapcore.ErrorLevel, msg, fields...)
}
