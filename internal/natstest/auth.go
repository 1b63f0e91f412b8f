package natstest

import (
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// StartWith runs one JetStream server as Start does, on an OS-picked
// loopback port with its own store, after configure has changed its
// options: the place to require authentication or TLS. configure may be
// nil. The server is ready once a client with client's options sees
// JetStream answer, so a server that requires credentials is given the
// ones it accepts. It is shut down when the test ends.
func StartWith(t TB, configure func(*server.Options), client ...nats.Option) *Node {
	t.Helper()
	n := newNode(t, "solo")
	if configure != nil {
		configure(&n.opts)
	}
	if err := n.start(); err != nil {
		t.Fatalf("starting nats server: %v", err)
	}
	t.Cleanup(n.Shutdown)
	url := n.URL()
	if n.opts.TLSConfig != nil {
		url = n.TLSURL()
	}
	waitJetStream(t, url, client...)
	return n
}

// TLSURL is the node's client URL with the tls:// scheme, which makes a
// client insist on TLS whatever the server announces.
func (n *Node) TLSURL() string { return n.urlWith("tls") }

// ConnectionsSeen is how many client connections the node has accepted
// since it started, refused ones included: a test sees a refused client
// keep trying. 0 while the node is down.
func (n *Node) ConnectionsSeen() uint64 {
	n.mu.Lock()
	srv := n.srv
	n.mu.Unlock()
	if srv == nil {
		return 0
	}
	v, err := srv.Varz(nil)
	if err != nil {
		return 0
	}
	return v.TotalConnections
}

// Reload changes a running node's options in place, as a SIGHUP after an
// edit of its config would: the way a test changes what the server
// accepts while its clients stay.
func (n *Node) Reload(t TB, configure func(*server.Options)) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	opts := n.opts
	configure(&opts)
	if n.srv != nil {
		reloaded := opts // the server keeps its own copy
		if err := n.srv.ReloadOptions(&reloaded); err != nil {
			t.Fatalf("reloading nats server: %v", err)
		}
	}
	n.opts = opts
}
