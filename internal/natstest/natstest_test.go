package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestClusterSurvivesOneNode proves the cluster is real: an R3 stream keeps
// taking publishes with one node down, and the node comes back on its port.
func TestClusterSurvivesOneNode(t *testing.T) {
	c := StartCluster(t)
	nc, err := nats.Connect(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	url := c.Nodes[2].URL()
	c.Nodes[2].Shutdown()
	if c.Nodes[2].Running() {
		t.Fatal("node still running after Shutdown")
	}
	if _, err := js.Publish(ctx, "t.a", []byte("x")); err != nil {
		t.Fatalf("publish with one node down: %v", err)
	}
	c.Nodes[2].Restart(t)
	if c.Nodes[2].URL() != url {
		t.Fatalf("restarted on %s, was %s", c.Nodes[2].URL(), url)
	}
	solo, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connecting to the restarted node: %v", err)
	}
	solo.Close()
	info, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
}

func TestStartSolo(t *testing.T) {
	n := Start(t)
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
}
