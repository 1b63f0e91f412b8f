package delivery

import (
	"errors"
	"net"
	"testing"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestConnRefusalsSaidOncePerOutage: a refusal repeated at every attempt,
// by the reconnect handler or (once the node had been in) the async one,
// is one WARN until the node connects again; a server merely down is not
// a refusal.
func TestConnRefusalsSaidOncePerOutage(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	r := &connRefusals{log: func() *zap.Logger { return log }}
	warns := func() int {
		return logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("refused the connection").Len()
	}
	for range 3 {
		r.failed(nil, &net.OpError{Op: "dial", Err: errors.New("connection refused")})
		r.failed(nil, nats.ErrNoServers)
	}
	if n := warns(); n != 0 {
		t.Fatalf("%d refusal WARNs for a server that is down, want 0", n)
	}
	for range 3 {
		r.async(nil, nil, nats.ErrAuthorization)
		r.failed(nil, nats.ErrAuthorization)
	}
	if n := warns(); n != 1 {
		t.Fatalf("%d refusal WARNs for one refusal repeated, want 1", n)
	}
	r.failed(nil, errors.New("tls: failed to verify certificate"))
	if n := warns(); n != 2 {
		t.Fatalf("%d refusal WARNs after a new reason, want 2", n)
	}
	r.connected()
	r.async(nil, nil, nats.ErrAuthorization)
	if n := warns(); n != 3 {
		t.Fatalf("%d refusal WARNs after the node was in again, want 3", n)
	}
	r.async(nil, nil, nats.ErrSlowConsumer)
	if n := logs.FilterMessage("nats error").Len(); n != 1 {
		t.Fatalf("an async error other than a refusal logged %d times, want once", n)
	}
}
