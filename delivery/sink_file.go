package delivery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/bojanz/currency"
	"github.com/cockroachdb/apd/v3"

	"github.com/saletrack/caddy-saletrack/fx"
	"github.com/saletrack/caddy-saletrack/internal/jsonwrite"
	"github.com/saletrack/caddy-saletrack/sale"
)

// FileSink appends each sale as one JSON line to a file: a local record
// that survives the platform and is easy to reconcile with grep and jq. It
// is safe for concurrent use.
type FileSink struct {
	path string

	mu     sync.Mutex
	f      *os.File
	closed bool
}

// NewFileSink opens path for appending, creating its parent directories
// (0o755) and the file (0o644).
func NewFileSink(path string) (*FileSink, error) {
	if path == "" {
		return nil, errors.New("file sink: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("file sink %s: creating its directory: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	return &FileSink{path: path, f: f}, nil
}

// Name is "file".
func (s *FileSink) Name() string { return "file" }

// Send appends the event's line and fsyncs, so an accepted event is on
// disk. A failed write is cut back off the file, so a retry does not leave
// half a line in front of the whole one.
func (s *FileSink) Send(ctx context.Context, ev *sale.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	line := FileLine(ev)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("file sink %s: closed", s.path)
	}
	var size int64 = -1
	if info, err := s.f.Stat(); err == nil {
		size = info.Size()
	}
	if _, err := s.f.Write(line); err != nil {
		if size >= 0 {
			_ = s.f.Truncate(size)
		}
		return fmt.Errorf("file sink %s: write: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("file sink %s: fsync: %w", s.path, err)
	}
	return nil
}

// Close closes the file; later sends fail (and are retried by the emitter
// on whatever sink replaced this one).
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("file sink %s: close: %w", s.path, err)
	}
	return nil
}

// FileLine is the file sink's line for ev: the platform payload
// (ev.Payload(false)) plus, when a USD value is known, "amountUsd" (a JSON
// number with exactly two decimals), "fxRate" and "fxDate" (strings, when
// known), then "eventId", the Idempotency-Key, "origin" (where the
// customer id and the click id came from: payload, placeholder or
// binding), and a newline. A sale
// written again after a crash (the file took it, the outbox had not yet
// recorded so) repeats its eventId: it is the key to deduplicate the file
// on.
func FileLine(ev *sale.Event) []byte {
	payload := ev.Payload(false)
	b := payload[:len(payload)-1] // the payload always ends in '}'
	if ev.USD != nil {
		b = append(b, `,"amountUsd":`...)
		b = append(b, twoDecimals(ev.USD.Amount)...)
		b = jsonwrite.Optional(b, "fxRate", ev.USD.Rate)
		b = jsonwrite.Optional(b, "fxDate", ev.USD.Date)
	}
	b = jsonwrite.Optional(b, "eventId", ev.ID)
	b = ev.AppendOrigin(b)
	return append(b, '}', '\n')
}

// twoDecimals writes an amount rounded half-up to cents, with both
// decimals kept ("12.30", not "12.3"), in plain notation.
func twoDecimals(a currency.Amount) string {
	rounded := a.RoundTo(2, currency.RoundHalfEven) // as fx rounds conversions
	d, _, err := apd.NewFromString(rounded.Number())
	if err != nil || d.Form != apd.Finite || d.Exponent != -2 {
		return fx.JSONNumber(a) // exact, if not two decimals; never invalid JSON
	}
	return d.Text('f')
}
