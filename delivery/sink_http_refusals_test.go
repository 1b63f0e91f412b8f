package delivery

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// A redirect from the platform is never followed: Go would repeat the
// POST as a bodiless GET and count the target's 2xx as delivered. It is a
// permanent failure naming where it pointed, without the query.
func TestHTTPSinkNeverFollowsRedirects(t *testing.T) {
	target := fake.NewPlatform()
	defer target.Close()
	for _, tc := range []struct{ status int }{{301}, {302}, {307}, {308}} {
		platform := fake.NewPlatform()
		defer platform.Close()
		platform.Script(func(fake.Request) fake.Reply {
			return fake.Reply{Status: tc.status, Header: map[string]string{"Location": target.URL + "/v2/track/sale?key=hunter2"}}
		})
		sink, err := NewHTTPSink(HTTPSinkOptions{Endpoint: platform.URL + "/v1/track/sale", APIKey: "sk_test_key"})
		if err != nil {
			t.Fatal(err)
		}
		err = sink.Send(context.Background(), obSale(t, "inv_redirect", obT0))
		var se *SendError
		if !errors.As(err, &se) || !se.Permanent || se.Status != tc.status {
			t.Fatalf("%d: %v, want a permanent SendError", tc.status, err)
		}
		if want := target.URL + "/v2/track/sale"; se.Location != want || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("%d: location %q in %q, want %q without its query", tc.status, se.Location, err, want)
		}
	}
	if n := len(target.Requests()); n != 0 {
		t.Fatalf("the redirect target received %d requests", n)
	}
}

// An API key that the 512-byte cut of the platform's body would split is
// still redacted: redaction comes first. So is the signing secret, as
// configured and as decoded.
func TestHTTPSinkRedactsBeforeCutting(t *testing.T) {
	const key = "sk_live_0123456789abcdef"
	const secret = "whsec_c2lnbmluZy1zZWNyZXQtYnl0ZXM="
	platform := fake.NewPlatform()
	defer platform.Close()
	body := strings.Repeat("x", maxBodySnippet-4) + key + " signing-secret-bytes " + secret
	platform.Fail(http.StatusUnprocessableEntity, body)
	sink, err := NewHTTPSink(HTTPSinkOptions{Endpoint: platform.URL, APIKey: key, SigningSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	err = sink.Send(context.Background(), obSale(t, "inv_echo", obT0))
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("%v, want a SendError", err)
	}
	if len(se.Body) > maxBodySnippet || strings.Contains(se.Body, key[:4]) {
		t.Fatalf("body kept %d bytes ending %q: a piece of the key survived the cut", len(se.Body), se.Body[len(se.Body)-8:])
	}
	if got := sink.redact(body); strings.Contains(got, secret) || strings.Contains(got, "signing-secret-bytes") {
		t.Fatalf("the signing secret survived redaction: %q", got[len(got)-80:])
	}
}

// A redirected sale is a dead letter at once, its reason naming where the
// redirect pointed.
func TestRedirectIsADeadLetterNamingTheLocation(t *testing.T) {
	platform := fake.NewPlatform()
	defer platform.Close()
	platform.Script(func(fake.Request) fake.Reply {
		return fake.Reply{Status: http.StatusMovedPermanently, Header: map[string]string{"Location": "/v2/track/sale"}}
	})
	ob, err := OpenOutbox(filepath.Join(t.TempDir(), "outbox.db"), OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	sink, err := NewHTTPSink(HTTPSinkOptions{Endpoint: platform.URL + "/v1/track/sale"})
	if err != nil {
		t.Fatal(err)
	}
	em := NewEmitter(ob, []Sink{sink}, EmitterOptions{BackoffBase: time.Millisecond, BackoffCap: time.Millisecond})
	em.Start()
	defer em.Stop()
	if _, err := em.Enqueue(obSale(t, "inv_moved", time.Now())); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		letters, _, err := em.DeadLetters(0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(letters) == 1 {
			want := "permanent: 301 redirect to " + platform.URL + "/v2/track/sale, never followed"
			if letters[0].Reason != want || letters[0].Attempts != 1 {
				t.Fatalf("dead letter %q after %d attempts, want %q after 1", letters[0].Reason, letters[0].Attempts, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter; the platform saw %d requests", len(platform.Requests()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
