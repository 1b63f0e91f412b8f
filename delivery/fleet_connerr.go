package delivery

import (
	"errors"
	"net"
	"sync"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// connRefusals logs why NATS would not take this node's connection: wrong
// or missing credentials, a server certificate not trusted, a client
// certificate refused. Without it a misconfigured node said only that the
// cluster was not reachable, and the reason was nowhere. The client tries
// again every few hundred milliseconds, so each reason is said once at
// WARN until the node connects; a server that is merely down (a refused
// dial) is the disconnected state's to report, and stays at DEBUG.
type connRefusals struct {
	log  func() *zap.Logger
	mu   sync.Mutex
	said map[string]bool
}

// failed is the client's handler of a failed connection attempt.
func (r *connRefusals) failed(_ *nats.Conn, err error) {
	if err == nil {
		return
	}
	var op *net.OpError
	if errors.Is(err, nats.ErrNoServers) || (errors.As(err, &op) && op.Op == "dial") {
		r.log().Debug("nats server not reachable", zap.Error(err))
		return
	}
	r.mu.Lock()
	first := !r.said[err.Error()]
	if first && len(r.said) < 16 { // bounded: a reason that varies is said again
		if r.said == nil {
			r.said = map[string]bool{}
		}
		r.said[err.Error()] = true
	}
	r.mu.Unlock()
	if first {
		r.log().Warn("nats refused the connection; sales are spooled to the local outbox until it is accepted", zap.Error(err))
	}
}

// async is the client's handler of asynchronous errors. An authorization
// error while reconnecting, after the node had been in, comes only here,
// at every attempt: it is a refusal, said once. Anything else (a slow
// consumer, a permission refused) nats.go would print to stderr, bypassing
// Caddy's log; it goes to the log instead.
func (r *connRefusals) async(nc *nats.Conn, sub *nats.Subscription, err error) {
	for _, auth := range []error{nats.ErrAuthorization, nats.ErrAuthExpired, nats.ErrAuthRevoked, nats.ErrAccountAuthExpired} {
		if errors.Is(err, auth) {
			r.failed(nc, err)
			return
		}
	}
	fields := []zap.Field{zap.Error(err)}
	if sub != nil {
		fields = append(fields, zap.String("subject", sub.Subject))
	}
	r.log().Warn("nats error", fields...)
}

// connected forgets what was said: a refusal after the node was in is news.
func (r *connRefusals) connected() {
	r.mu.Lock()
	r.said = nil
	r.mu.Unlock()
}
