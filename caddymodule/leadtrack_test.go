package caddymodule

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/saletrack/caddy-saletrack/sale"
)

// signUp posts to the sign-up route with the click cookie when given.
func signUp(t *testing.T, tester *caddytest.Tester, path, click string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, siteURL+path, nil)
	if click != "" {
		req.Header.Set("Cookie", "clickId="+click)
	}
	resp, err := tester.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("sign-up answered %d", resp.StatusCode)
	}
}

// A sign-up response becomes one lead at the lead endpoint: the shop's
// customer id with the visitor's click. The same customer signing up
// again is not sent twice, a sign-up without a click is not attributable,
// and a follow_up route sends its lead without one.
func TestLeadTrackInProcess(t *testing.T) {
	plat := newPlatform(t)
	tester := loadConfig(t, fmt.Sprintf(`
			endpoint %s/track/sale
			lead_endpoint %s/track/lead
			storage_dir %s
			backoff_base 10ms
			backoff_cap 50ms`, plat.URL, plat.URL, t.TempDir()), fmt.Sprintf(`
	%s {
		header Content-Type application/json
		handle /signup/* {
			lead_track {
				customer_id customer.id
				email       customer.email
				mode        deferred
			}
			respond `+"`"+`{"customer":{"id":"{http.request.uri.path.1}","email":"a@example.com"}}`+"`"+` 201
		}
		handle /verified/* {
			lead_track {
				customer_id customer.id
				follow_up
			}
			respond `+"`"+`{"customer":{"id":"{http.request.uri.path.1}"}}`+"`"+` 201
		}
	}`, siteURL))

	signUp(t, tester, "/signup/cus_1", "cl_lead1")
	signUp(t, tester, "/signup/cus_1", "cl_lead1") // the same sign-up again
	signUp(t, tester, "/signup/cus_2", "")         // no click
	signUp(t, tester, "/verified/cus_1", "")       // the deferred sign-up's second step
	plat.WaitRequests(t, 2)
	time.Sleep(200 * time.Millisecond) // room for a request that must not come
	reqs := plat.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want the deferred lead and its follow-up", len(reqs))
	}
	var deferred, followUp string
	for _, b := range reqs {
		if b.Path != "/track/lead" {
			t.Fatalf("a lead went to %s", b.Path)
		}
		if strings.Contains(b.Body, `"mode":"deferred"`) {
			deferred = b.Body
		} else {
			followUp = b.Body
		}
	}
	if !strings.Contains(deferred, `"customerExternalId":"cus_1","email":"a@example.com","clickId":"cl_lead1","mode":"deferred"}`) || !strings.HasPrefix(deferred, `{"event":"lead",`) {
		t.Fatalf("deferred lead %s", deferred)
	}
	if !strings.Contains(followUp, `"customerExternalId":"cus_1"}`) || strings.Contains(followUp, "clickId") {
		t.Fatalf("follow-up lead %s", followUp)
	}
}

// follow_up and mode are one rule, refused on the directive's line and by
// Validate for JSON alike; mode and follow_up belong to lead_track only.
func TestLeadTrackFollowUpRule(t *testing.T) {
	var l LeadTrack
	err := l.UnmarshalCaddyfile(caddyfile.NewTestDispenser("lead_track {\n customer_id id\n mode deferred\n follow_up\n}"))
	if err == nil || !strings.Contains(err.Error(), "takes no mode") {
		t.Fatalf("Caddyfile: %v", err)
	}
	if err := (&LeadTrack{Handler: Handler{Mode: sale.ModeDeferred, FollowUp: true}}).Validate(); err == nil {
		t.Fatal("Validate accepted follow_up with a mode")
	}
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("sale_track {\n amount total\n customer_id id\n follow_up\n}")); err == nil || !strings.Contains(err.Error(), "only lead_track") {
		t.Fatalf("sale_track follow_up: %v", err)
	}
}
