package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
	"github.com/saletrack/caddy-saletrack/sale"
)

func profileSink(t *testing.T, name string, plat *fake.Platform) *HTTPSink {
	t.Helper()
	p, err := sale.LookupPlatform(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewHTTPSink(HTTPSinkOptions{Platform: p, Endpoint: plat.URL + p.SalePath, LeadEndpoint: plat.URL + p.LeadPath, APIKey: "k_test"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A sale that waited out an outage longer than CutMeShort's 24 hours is
// sent with the time of its delivery, which the platform takes; the event
// (and so the file sink's line) keeps its own time.
func TestCutMeShortGetsATimestampItTakes(t *testing.T) {
	plat := fake.NewPlatform()
	defer plat.Close()
	sink := profileSink(t, "cutmeshort", plat)
	ev := obSale(t, "inv_old", time.Now().Add(-72*time.Hour).Truncate(time.Millisecond))
	if err := sink.Send(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	var body struct{ Timestamp time.Time }
	req := plat.Requests()[0]
	if err := json.Unmarshal([]byte(req.Body), &body); err != nil {
		t.Fatal(err)
	}
	if req.Path != "/track/sale" || time.Since(body.Timestamp) > time.Minute {
		t.Fatalf("%s sent with timestamp %v, want about now", req.Path, body.Timestamp)
	}
	if !strings.Contains(string(FileLine(ev)), ev.Timestamp.UTC().Format(sale.TimestampLayout)) {
		t.Fatalf("the file line lost the sale's own time: %s", FileLine(ev))
	}
}

// An event its platform would certainly refuse is not sent: a permanent
// failure naming the rule, so it is a dead letter at once.
func TestRefusedEventIsNotSent(t *testing.T) {
	plat := fake.NewPlatform()
	defer plat.Close()
	sink := profileSink(t, "dub", plat)
	ev := obSale(t, "inv_long_customer", obT0)
	ev.CustomerExternalID = strings.Repeat("c", 101)
	err := sink.Send(context.Background(), ev)
	var se *SendError
	if !errors.As(err, &se) || !se.Permanent || !strings.Contains(err.Error(), "customerExternalId") {
		t.Fatalf("%v, want a permanent failure naming customerExternalId", err)
	}
	if n := len(plat.Requests()); n != 0 {
		t.Fatalf("the platform received %d requests", n)
	}
}

// Leads go to the lead URL; a kind the sink has no URL for is left to the
// file sink.
func TestLeadsGoToTheLeadEndpoint(t *testing.T) {
	plat := fake.NewPlatform()
	defer plat.Close()
	lead := obSale(t, "", obT0)
	lead.Kind, lead.ClickID, lead.EventName = sale.KindLead, "cl_1", ""
	if err := profileSink(t, "cutmeshort", plat).Send(context.Background(), lead); err != nil {
		t.Fatal(err)
	}
	if reqs := plat.Requests(); len(reqs) != 1 || reqs[0].Path != "/track/lead" || !strings.Contains(reqs[0].Body, `"eventName":"sign_up"`) {
		t.Fatalf("lead requests %+v", reqs)
	}
	salesOnly, err := NewHTTPSink(HTTPSinkOptions{Endpoint: plat.URL + "/sales"})
	if err != nil {
		t.Fatal(err)
	}
	if err := salesOnly.Send(context.Background(), lead); err != nil || len(plat.Requests()) != 1 {
		t.Fatalf("a sink with no lead URL: %v, %d requests; want the lead left to the file", err, len(plat.Requests()))
	}
}

// A lead the platform refuses once is delivered on its retry, read back
// from the outbox file (only a first attempt comes from memory).
func TestLeadIsDeliveredOnRetry(t *testing.T) {
	plat := fake.NewPlatform()
	defer plat.Close()
	var calls atomic.Int32
	plat.Script(func(fake.Request) fake.Reply {
		if calls.Add(1) == 1 {
			return fake.Reply{Status: http.StatusServiceUnavailable}
		}
		return fake.Reply{}
	})
	ob := obOpen(t, OutboxOptions{})
	em := NewEmitter(ob, []Sink{profileSink(t, "cutmeshort", plat)}, EmitterOptions{BackoffBase: time.Millisecond, BackoffCap: time.Millisecond})
	em.Start()
	defer em.Stop()
	lead := &sale.Event{Kind: sale.KindLead, CustomerExternalID: "cus_1", ClickID: "cl_1", Timestamp: time.Now(), CapturedAt: time.Now()}
	if _, err := em.Enqueue(lead); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the lead delivered on its retry", func() bool { return em.Stats().Delivered == 1 })
	if reqs := plat.Requests(); len(reqs) != 2 || reqs[1].Path != "/track/lead" {
		t.Fatalf("requests %+v, want a refused attempt and an accepted retry", reqs)
	}
	if letters, _, _ := em.DeadLetters(0, 10); len(letters) != 0 {
		t.Fatalf("dead letters: %+v", letters)
	}
}
