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
	publishOnce(t, js, ctx)
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

// publishOnce publishes one message, trying again while the survivors
// elect a new leader: a publish that reaches a stream without a leader
// gets no answer at all, so each try has its own short deadline, and the
// message id makes a try that did land count once.
func publishOnce(t *testing.T, js jetstream.JetStream, ctx context.Context) {
	t.Helper()
	for {
		try, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.Publish(try, "t.a", []byte("x"), jetstream.WithMsgID("only"))
		cancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("publish with one node down: %v", err)
		}
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
