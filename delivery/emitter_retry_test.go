package delivery

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
	"github.com/saletrack/caddy-saletrack/sale"
)

func TestEmitterRetryAfterWins(t *testing.T) {
	clock := newObClock()
	platform := newPlatform(t)
	platform.Script(func(r fake.Request) fake.Reply {
		if r.Attempt == 0 {
			return fake.Reply{Status: 503, Header: map[string]string{"Retry-After": "120"}, Body: "maintenance"}
		}
		return fake.Reply{Status: 200}
	})
	ob := obOpen(t, OutboxOptions{Now: clock.Now})
	opts := emFrozen(clock)
	opts.BackoffBase, opts.BackoffCap = time.Millisecond, time.Millisecond // Retry-After must win even over the cap
	e := emStart(t, ob, []Sink{platformSink(t, platform)}, opts)
	enqueueOK(t, e, obSale(t, "INV-1", clock.Now()))

	var rec record
	waitFor(t, "the rescheduled record", func() bool {
		recs := obQueued(t, ob)
		if len(recs) == 1 && recs[0].Attempts == 1 {
			rec = recs[0]
			return true
		}
		return false
	})
	if want := obT0.Add(120 * time.Second); !rec.NextAttempt.Equal(want) || rec.LastStatus != 503 || rec.LastSink != "http" || rec.LastBody != "maintenance" {
		t.Fatalf("after a 503 with Retry-After 120: %+v; want next attempt %v", rec, want)
	}
	clock.Advance(120 * time.Second)
	e.signal() // the real timer is set for 120 real seconds; the clock moved
	waitFor(t, "delivery after Retry-After", func() bool { return e.Stats().Delivered == 1 })
	if keys := platform.Keys("INV-1"); len(keys) != 2 || keys[0] != sale.EventID("INV-1") || keys[1] != keys[0] {
		t.Errorf("attempt keys %v", keys)
	}
}

func TestEmitterPermanentFailureIsDeadLetter(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
	}{
		{422, `{"error":"customerExternalId is required"}`},
		{501, ""},
		{401, "bad key"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			clock := newObClock()
			platform := newPlatform(t)
			platform.Fail(tc.status, tc.body)
			ob := obOpen(t, OutboxOptions{Now: clock.Now})
			e := emStart(t, ob, []Sink{platformSink(t, platform)}, emFrozen(clock))
			enqueueOK(t, e, obSale(t, "INV-P", clock.Now()))
			waitFor(t, "the dead letter", func() bool { return e.Stats().Dead == 1 })

			letters, total, err := e.DeadLetters(0, 10)
			if err != nil || total != 1 {
				t.Fatalf("DeadLetters: %d, %v", total, err)
			}
			dl := letters[0]
			want := DeadLetter{Seq: 1, Reason: fmt.Sprintf("permanent: %d", tc.status), Sink: "http",
				Status: tc.status, Body: tc.body, Attempts: 1, At: obT0}
			dl.Event, dl.Error = nil, ""
			if dl.Seq != want.Seq || dl.Reason != want.Reason || dl.Sink != want.Sink || dl.Status != want.Status ||
				dl.Body != want.Body || dl.Attempts != want.Attempts || !dl.At.Equal(want.At) || len(dl.Accepted) != 0 {
				t.Errorf("dead letter %+v\nwant %+v", dl, want)
			}
			if letters[0].Event == nil || letters[0].Event.InvoiceID != "INV-P" || letters[0].Event.ID != sale.EventID("INV-P") {
				t.Errorf("dead letter lost its event: %+v", letters[0].Event)
			}
			st := e.Stats()
			if st.Queued != 0 || st.DeadLettered != 1 || st.Sinks["http"] != (SinkStats{Failed: 1}) {
				t.Errorf("stats %+v", st)
			}
			if keys := platform.Keys("INV-P"); len(keys) != 1 {
				t.Errorf("%d attempts for a permanent failure, want 1", len(keys))
			}
		})
	}
}

func TestEmitterConnectionRefusedThenRecovers(t *testing.T) {
	platform := newPlatform(t)
	platform.Down()
	ob := obOpen(t, OutboxOptions{})
	e := emStart(t, ob, []Sink{platformSink(t, platform)}, emFast())
	enqueueOK(t, e, obSale(t, "INV-NET", time.Now()))
	waitFor(t, "retries while the platform is down", func() bool { return e.Stats().Sinks["http"].Retried >= 2 })
	if st := e.Stats(); st.Queued != 1 || st.Dead != 0 {
		t.Fatalf("while down: %+v", st)
	}

	if n := len(platform.Requests()); n != 0 {
		t.Fatalf("the platform recorded %d requests while down", n)
	}
	if err := platform.Up(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery once the platform is up", func() bool { return e.Stats().Delivered == 1 })
	if got := acceptedInvoices(platform); !slices.Equal(got, []string{"INV-NET"}) {
		t.Errorf("accepted %v", got)
	}
}

func TestEmitterExpiresOldEvents(t *testing.T) {
	clock := newObClock()
	platform := newPlatform(t)
	platform.Fail(500, "down")
	ob := obOpen(t, OutboxOptions{Now: clock.Now})
	opts := emFrozen(clock)
	opts.MaxEventAge = time.Hour
	e := emStart(t, ob, []Sink{platformSink(t, platform)}, opts)

	// Captured before an outage longer than MaxEventAge: one last try.
	enqueueOK(t, e, obSale(t, "INV-OLD", obT0.Add(-2*time.Hour)))
	waitFor(t, "the old sale's dead letter", func() bool { return e.Stats().Dead == 1 })
	// Fresh: retried, and dead once it outlives MaxEventAge.
	enqueueOK(t, e, obSale(t, "INV-NEW", obT0))
	waitFor(t, "a failed attempt", func() bool { return e.Stats().Sinks["http"].Retried == 2 })
	waitFor(t, "the reschedule", func() bool { r := obQueued(t, ob); return len(r) == 1 && r[0].Attempts == 1 })
	if next := obQueued(t, ob)[0].NextAttempt; next.After(obT0.Add(time.Hour)) {
		t.Errorf("next attempt %v is after the expiry", next)
	}
	clock.Advance(time.Hour)
	e.signal()
	waitFor(t, "the expired sale's dead letter", func() bool { return e.Stats().Dead == 2 })

	letters, _, err := e.DeadLetters(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]DeadLetter{}
	for _, dl := range letters {
		got[dl.Event.InvoiceID] = dl
	}
	for inv, attempts := range map[string]int{"INV-OLD": 1, "INV-NEW": 2} {
		dl := got[inv]
		if dl.Reason != "expired after 1h0m0s" || dl.Status != 500 || dl.Body != "down" || dl.Attempts != attempts {
			t.Errorf("%s: %+v; want expired after %d attempts", inv, dl, attempts)
		}
		if n := len(platform.Keys(inv)); n != attempts {
			t.Errorf("%s: %d requests, want %d", inv, n, attempts)
		}
	}
}

func TestEmitterPerSinkProgress(t *testing.T) {
	platform := newPlatform(t)
	platform.Script(func(r fake.Request) fake.Reply {
		if r.Attempt < 2 {
			return fake.Reply{Status: 500}
		}
		return fake.Reply{Status: 200}
	})
	path := filepath.Join(t.TempDir(), "sales.jsonl")
	file, err := NewFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	ob := obOpen(t, OutboxOptions{})
	// HTTP first: its failure must not stop the file from getting the sale,
	// nor the file's success from being remembered.
	e := emStart(t, ob, []Sink{platformSink(t, platform), file}, emFast())
	ev := obSale(t, "INV-PS", time.Now())
	enqueueOK(t, e, ev)
	waitFor(t, "delivery to both", func() bool { return e.Stats().Delivered == 1 })

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != string(FileLine(ev)) {
		t.Errorf("file holds\n%q\nwant exactly one line\n%q", data, FileLine(ev))
	}
	if keys := platform.Keys("INV-PS"); len(keys) != 3 {
		t.Errorf("%d HTTP attempts, want 3", len(keys))
	}
	st := e.Stats()
	if st.Sinks["file"] != (SinkStats{Sent: 1}) || st.Sinks["http"] != (SinkStats{Sent: 1, Retried: 2}) {
		t.Errorf("sink stats %+v", st.Sinks)
	}
}

func TestEmitterReplay(t *testing.T) {
	platform := newPlatform(t)
	platform.Fail(422, "nope")
	path := filepath.Join(t.TempDir(), "sales.jsonl")
	file, err := NewFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	ob := obOpen(t, OutboxOptions{})
	opts := emFast()
	opts.Concurrency = 1 // dead letters in enqueue order
	e := emStart(t, ob, []Sink{file, platformSink(t, platform)}, opts)
	var events []*sale.Event
	for _, inv := range []string{"INV-R1", "INV-R2", "INV-R3"} {
		ev := obSale(t, inv, time.Now())
		events = append(events, ev)
		enqueueOK(t, e, ev)
	}
	waitFor(t, "three dead letters", func() bool { return e.Stats().Dead == 3 })

	page, total, err := e.DeadLetters(1, 1)
	if err != nil || total != 3 || len(page) != 1 || page[0].Event.InvoiceID != "INV-R2" {
		t.Fatalf("page 2 of size 1: %+v, total %d, %v", page, total, err)
	}
	if !slices.Equal(page[0].Accepted, []string{"file"}) {
		t.Errorf("dead letter's accepted sinks %v, want [file]", page[0].Accepted)
	}

	platform.Accept() // the platform is fixed
	if n, err := e.Replay("INV-unknown"); err != nil || n != 0 {
		t.Fatalf("Replay(unknown) = %d, %v", n, err)
	}
	if n, err := e.Replay("INV-R2"); err != nil || n != 1 {
		t.Fatalf("Replay(INV-R2) = %d, %v", n, err)
	}
	waitFor(t, "INV-R2 delivered", func() bool { return e.Stats().Delivered == 1 })
	if st := e.Stats(); st.Dead != 2 {
		t.Errorf("dead after one replay: %d", st.Dead)
	}
	if n, err := e.Replay(""); err != nil || n != 2 {
		t.Fatalf("Replay(all) = %d, %v", n, err)
	}
	waitFor(t, "all delivered", func() bool { return e.Stats().Delivered == 3 })

	if got := acceptedInvoices(platform); !slices.Equal(got, []string{"INV-R1", "INV-R2", "INV-R3"}) {
		t.Errorf("accepted %v", got)
	}
	for _, ev := range events {
		keys := platform.Keys(ev.InvoiceID)
		if len(keys) != 2 || keys[0] != keys[1] || keys[0] != ev.ID {
			t.Errorf("%s: keys %v, want the same ID before and after replay", ev.InvoiceID, keys)
		}
	}
	data, _ := os.ReadFile(path)
	want := string(FileLine(events[0])) + string(FileLine(events[1])) + string(FileLine(events[2]))
	if string(data) != want {
		t.Errorf("file after replays (each line exactly once):\n%s\nwant\n%s", data, want)
	}
	if st := e.Stats(); st.Dead != 0 || st.Replayed != 3 || st.Queued != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestEmitterFlushBypassesBackoff(t *testing.T) {
	clock := newObClock()
	platform := newPlatform(t)
	platform.Script(func(r fake.Request) fake.Reply {
		if r.Attempt == 0 {
			return fake.Reply{Status: http.StatusBadGateway}
		}
		return fake.Reply{Status: 200}
	})
	ob := obOpen(t, OutboxOptions{Now: clock.Now})
	e := emStart(t, ob, []Sink{platformSink(t, platform)}, emFrozen(clock))
	for _, inv := range []string{"INV-F1", "INV-F2"} {
		enqueueOK(t, e, obSale(t, inv, clock.Now()))
	}
	waitFor(t, "both rescheduled", func() bool {
		r := obQueued(t, ob)
		return len(r) == 2 && r[0].Attempts == 1 && r[1].Attempts == 1
	})
	for _, r := range obQueued(t, ob) {
		if !r.NextAttempt.After(obT0) {
			t.Fatalf("rescheduled at %v: not in the future on the frozen clock", r.NextAttempt)
		}
	}
	e.Flush()
	waitFor(t, "flushed deliveries", func() bool { return e.Stats().Delivered == 2 })
	if got := acceptedInvoices(platform); !slices.Equal(got, []string{"INV-F1", "INV-F2"}) {
		t.Errorf("accepted %v", got)
	}
	for _, inv := range []string{"INV-F1", "INV-F2"} {
		if n := len(platform.Keys(inv)); n != 2 {
			t.Errorf("%s: %d attempts, want 2", inv, n)
		}
	}
}
