package delivery

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/saletrack/caddy-saletrack/internal/natstest"
)

// TestFleetConsumerDeletedIsSetUpAgain: when the server says the consumer
// is gone (as one may while a restarted cluster recovers, or when an
// operator deletes it), the client ends its pull for good. The node must
// set up again, recreating the consumer, rather than stay "ready" with
// nothing pulling and every later sale waiting in the stream.
func TestFleetConsumerDeletedIsSetUpAgain(t *testing.T) {
	srv := natstest.Start(t)
	p := newPlatform(t)
	n := startFleetNode(t, fleetOpts(srv.URL()), platformSink(t, p))
	n.waitReady(t)
	commitOK(t, n, fleetSale(t, "inv_before"), Queued)
	waitOnce(t, p, "inv_before")
	// The platform has the sale before the node's ack reaches the server:
	// a consumer deleted in between takes the unacknowledged event with
	// it, and the new one sends it again. Wait for the stream to be empty.
	waitDrained(t, n)

	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	opts := n.fleet.Options()
	if err := js.DeleteConsumer(context.Background(), opts.Stream, opts.Consumer); err != nil {
		t.Fatalf("deleting the consumer: %v", err)
	}
	waitFor(t, "the consumer to be created again", func() bool {
		_, err := js.Consumer(context.Background(), opts.Stream, opts.Consumer)
		return err == nil && n.fleet.State() == "ready"
	})
	commitOK(t, n, fleetSale(t, "inv_after"), Queued)
	waitOnce(t, p, "inv_before", "inv_after")
}
