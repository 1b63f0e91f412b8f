// Package natstest runs real NATS servers with JetStream inside the test
// process, on OS-picked loopback ports: one server, or a cluster of three
// with routes between them, any member of which can be shut down and
// started again on its old ports and store.
package natstest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// TB is the part of testing.TB the helpers use.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

var _ TB = (testing.TB)(nil)

// readyWait bounds how long a server, or a cluster's JetStream, may take to
// be ready.
const readyWait = 30 * time.Second

// Node is one server of a Cluster, or a lone server.
type Node struct {
	mu   sync.Mutex
	opts server.Options
	srv  *server.Server
}

// URL is the node's client URL; it stays the same across a restart.
func (n *Node) URL() string { return n.urlWith("nats") }

// urlWith is the node's client URL with the given scheme.
func (n *Node) urlWith(scheme string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return fmt.Sprintf("%s://127.0.0.1:%d", scheme, n.opts.Port)
}

// Running reports whether the node serves.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv != nil
}

// Shutdown stops the node at once; to its clients it looks like a crash.
func (n *Node) Shutdown() {
	n.mu.Lock()
	srv := n.srv
	n.srv = nil
	n.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts a shut-down node again on its ports, with its store.
func (n *Node) Restart(t TB) {
	t.Helper()
	if err := n.start(); err != nil {
		t.Fatalf("restarting nats server %s: %v", n.opts.ServerName, err)
	}
}

func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		return nil
	}
	opts := n.opts // the server keeps, and fills in, its own copy
	srv, err := server.NewServer(&opts)
	if err != nil {
		return err
	}
	go srv.Start()
	if !srv.ReadyForConnections(readyWait) {
		srv.Shutdown()
		return fmt.Errorf("not ready after %s", readyWait)
	}
	// Keep the ports picked at the first start: clients and routes find
	// the node there again after a restart.
	n.opts.Port = srv.Addr().(*net.TCPAddr).Port
	if ca := srv.ClusterAddr(); ca != nil {
		n.opts.Cluster.Port = ca.Port
	}
	n.srv = srv
	return nil
}

func newNode(t TB, name string) *Node {
	return &Node{opts: server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoLog:      true,
		NoSigs:     true,
	}}
}

// Start runs one JetStream server, shut down when the test ends.
func Start(t TB) *Node {
	t.Helper()
	return StartWith(t, nil)
}

// Cluster is three JetStream servers routed to each other.
type Cluster struct {
	Nodes []*Node
}

// StartCluster runs a three-server JetStream cluster and waits until it
// has elected its meta leader; it is shut down when the test ends.
func StartCluster(t TB) *Cluster {
	t.Helper()
	// JetStream clustering wants its routes configured from the start, so
	// the route ports are picked before any node starts.
	c := &Cluster{}
	var routes []*url.URL
	for range 3 {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", fake.FreePort())})
	}
	for i := range 3 {
		n := newNode(t, fmt.Sprintf("n%d", i+1))
		port, _ := strconv.Atoi(routes[i].Port())
		n.opts.Cluster = server.ClusterOpts{Name: "saletrack-test", Host: "127.0.0.1", Port: port}
		n.opts.Routes = routes
		c.Nodes = append(c.Nodes, n)
	}
	// Start them together: a clustered server waits for its peers.
	errs := make(chan error, len(c.Nodes))
	for _, n := range c.Nodes {
		go func() { errs <- n.start() }()
		t.Cleanup(n.Shutdown)
	}
	for range c.Nodes {
		if err := <-errs; err != nil {
			t.Fatalf("starting a nats cluster node: %v", err)
		}
	}
	waitJetStream(t, c.URL())
	return c
}

// URL lists every node's client URL, comma-separated, as a client's
// configuration takes them.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = n.URL()
	}
	return strings.Join(urls, ",")
}

// waitJetStream waits until JetStream answers on url: in a cluster, once a
// meta leader is elected and can create a replicated stream.
func waitJetStream(t TB, url string, opts ...nats.Option) {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connecting to nats %s: %v", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	deadline := time.Now().Add(readyWait)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, lastErr = js.AccountInfo(ctx)
		cancel()
		if lastErr == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("jetstream at %s not ready: %v", url, lastErr)
}
