package caddymodule

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// followers is how many streams the process's log is feeding.
func followers() int {
	recent.mu.Lock()
	defer recent.mu.Unlock()
	return len(recent.follows)
}

func waitFollowers(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for followers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams followed, want %d", followers(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A stream ends, and stops following the log, when its client goes and
// when the config that served it stops: no goroutine is left behind.
func TestRecentStreamEnds(t *testing.T) {
	done := make(chan struct{})
	l := &LiveAdmin{done: done}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := l.handleRecent(w, r); err != nil {
			t.Errorf("handleRecent: %v", err)
		}
	}))
	defer srv.Close()
	waitFollowers(t, 0)

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/sale_track/recent?follow=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	waitFollowers(t, 1)
	record(outcomeEntry{Route: "stream-test", Kind: "sale", Outcome: outcomeSkipped, Reason: "malformed: x", code: "malformed"}, nil)
	sc := bufio.NewScanner(resp.Body)
	var line string
	for sc.Scan() {
		if line = sc.Text(); strings.Contains(line, `"route":"stream-test"`) {
			break
		}
	}
	if !strings.Contains(line, `"outcome":"skipped"`) {
		t.Fatalf("the stream did not carry the outcome: %q", line)
	}
	cancel()
	resp.Body.Close()
	waitFollowers(t, 0)

	resp, err = http.Get(srv.URL + "/sale_track/recent?follow=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	waitFollowers(t, 1)
	close(done)
	waitFollowers(t, 0)
	if _, err := bufio.NewReader(resp.Body).ReadString('x'); err == nil {
		t.Error("the stream still open after its config stopped")
	}
}

// stalledWriter is a stream's client that stopped reading but keeps its
// connection open: a write blocks until a write deadline is set, and then
// fails as the deadline passing would make it.
type stalledWriter struct {
	header   http.Header
	deadline chan struct{} // closed when a write deadline is set
	once     sync.Once
}

func (w *stalledWriter) Header() http.Header             { return w.header }
func (w *stalledWriter) WriteHeader(int)                 {}
func (w *stalledWriter) FlushError() error               { return nil }
func (w *stalledWriter) SetReadDeadline(time.Time) error { return nil }

func (w *stalledWriter) SetWriteDeadline(t time.Time) error {
	if !t.IsZero() {
		w.once.Do(func() { close(w.deadline) })
	}
	return nil
}

func (w *stalledWriter) Write([]byte) (int, error) {
	<-w.deadline
	return 0, os.ErrDeadlineExceeded
}

// A stream whose client stopped reading ends by its write deadline, and
// stops following the log, rather than holding its goroutine forever.
func TestRecentStreamToAStalledClientEnds(t *testing.T) {
	waitFollowers(t, 0)
	w := &stalledWriter{header: http.Header{}, deadline: make(chan struct{})}
	// Released at the end, so that a failing run leaves nothing behind.
	defer w.once.Do(func() { close(w.deadline) })
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		req := httptest.NewRequest(http.MethodGet, "/sale_track/recent?follow=1", nil)
		_ = (&LiveAdmin{}).handleRecent(w, req)
	}()
	waitFollowers(t, 1)
	record(outcomeEntry{Route: "stalled-test", Kind: "sale", Outcome: outcomeNotSale, code: "condition"}, nil)
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream to a client that reads nothing never ended")
	}
	waitFollowers(t, 0)
}
