package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// bindingSite is a shop whose sign-up answers with the customer it is
// asked for, and whose Stripe webhook goes through sale_track's preset,
// sending to the fake CutMeShort and to a file; extra goes into the global
// sale_track block.
type bindingSite struct {
	t       *testing.T
	dir     string
	admin   int
	port    int
	plat    *fake.Platform
	shop    string
	extra   string
	proc    *caddyProc
	file    string
	storage string
}

func newBindingSite(t *testing.T, extra string) *bindingSite {
	return bindingSiteOn(t, newPlatform(t), startShop(t), extra)
}

// bindingSiteOn is a bindingSite in front of shop, delivering to plat.
func bindingSiteOn(t *testing.T, plat *fake.Platform, shop, extra string) *bindingSite {
	dir := t.TempDir()
	s := &bindingSite{t: t, dir: dir, admin: fake.FreePort(), port: fake.FreePort(), plat: plat, shop: shop, extra: extra,
		file: filepath.Join(dir, "sales.jsonl"), storage: filepath.Join(dir, "st")}
	s.proc = startCaddy(t, dir, s.admin, s.caddyfile())
	return s
}

func (s *bindingSite) caddyfile() string {
	return globalOptions(s.admin, s.port, s.storage, fmt.Sprintf("platform cutmeshort\n\t\tapi_base %s\n\t\tfile %s\n\t\t%s", s.plat.URL, s.file, s.extra)) + fmt.Sprintf(`
http://127.0.0.1:%d {
	click_cookie
	handle /signup {
		lead_track {
			customer_id customer.id
			email       customer.email
		}
		header Content-Type application/json
		respond `+"`"+`{"customer":{"id":"{http.request.uri.query.user}","email":"{http.request.uri.query.email}"}}`+"`"+` 201
	}
	handle /api/checkout-session {
		checkout_ref {
			ref id url
			customer_id {http.request.header.X-User-Id}
		}
		header Content-Type application/json
		respond `+"`"+`{"id":"{http.request.uri.query.session}","url":"https://checkout.stripe.com/c/pay/{http.request.uri.query.session}#fidkdWxOYHwn"}`+"`"+` 200
	}
	handle /checkout/stripe {
		checkout_ref {
			ref {http.response.header.Location}
			customer_id {http.request.header.X-User-Id}
		}
		header Location https://checkout.stripe.com/c/pay/{http.request.uri.query.session}#fidkdWxOYHwn
		respond 303
	}
	handle /webhooks/* {
		sale_track stripe
		reverse_proxy %s
	}
	reverse_proxy %s
}
`, s.port, s.shop, s.shop)
}

func (s *bindingSite) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", s.port, path)
}

// landAndSignUp is a browser landing through click and signing up as user
// with email; it returns once the platform has the lead, so the binding
// has learned from it.
func (s *bindingSite) landAndSignUp(click, user, email string, leadsBefore int) {
	s.t.Helper()
	browser := visitor(s.t)
	mustDo(s.t, browser, http.MethodGet, s.url("/?cms_rf="+click))
	mustDo(s.t, browser, http.MethodPost, s.url("/signup?"+url.Values{"user": {user}, "email": {email}}.Encode()))
	s.waitPath("/track/lead", leadsBefore+1)
}

// waitPath waits until the platform has n requests at path.
func (s *bindingSite) waitPath(path string, n int) []map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got []map[string]any
		for _, r := range s.plat.Requests() {
			if r.Path != path {
				continue
			}
			var body map[string]any
			if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
				s.t.Fatalf("%s: %v", path, err)
			}
			got = append(got, body)
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%d requests at %s, want %d", len(got), path, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLog waits until one line of the process's log holds every part.
func (s *bindingSite) waitLog(parts ...string) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, line := range strings.Split(s.proc.logs.String(), "\n") {
			found := true
			for _, p := range parts {
				found = found && strings.Contains(line, p)
			}
			if found {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no log line with %q", parts)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deliveryStats is what the tests read of /sale_track/stats.
type deliveryStats struct {
	Duplicates      uint64 `json:"duplicates"`
	BindingsLearned uint64 `json:"bindings_learned"`
}

func (s *bindingSite) stats() deliveryStats {
	s.t.Helper()
	var stats []deliveryStats
	s.proc.adminJSON(http.MethodGet, "/sale_track/stats", &stats)
	if len(stats) != 1 {
		s.t.Fatalf("stats of %d deliveries, want 1", len(stats))
	}
	return stats[0]
}

// waitStat waits until the delivery's stats say enough: a duplicate
// counted, a binding entry learned.
func (s *bindingSite) waitStat(what string, enough func(deliveryStats) bool) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		stats := s.stats()
		if enough(stats) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("waiting for %s: stats %+v", what, stats)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stripeWebhook posts a paid checkout.session.completed as Stripe sends
// it for a session the shop created without metadata or
// client_reference_id: only the buyer's email ties it to anyone. It
// returns the status the shop's answer had.
func (s *bindingSite) stripeWebhook(session, email string) int {
	s.t.Helper()
	body := fmt.Sprintf(`{"id":"evt_%[1]s","object":"event","type":"checkout.session.completed","created":%[2]d,
"data":{"object":{"id":"%[1]s","object":"checkout.session","payment_status":"paid","status":"complete",
"amount_total":4900,"currency":"eur","client_reference_id":null,"metadata":{},"payment_intent":"pi_%[1]s",
"customer":"cus_stripe_own","customer_details":{"email":%[3]q,"name":"Alex Johnson"}}}}`, session, time.Now().Unix(), email)
	req, _ := http.NewRequest(http.MethodPost, s.url("/webhooks/stripe"), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature", "valid")
	resp, err := http.DefaultClient.Do(req) // Stripe's servers: no cookies
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// fileLine returns the file sink's line for invoice, once it is there.
func (s *bindingSite) fileLine(invoice string) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if f, err := os.Open(s.file); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				var line map[string]any
				if json.Unmarshal(sc.Bytes(), &line) == nil && line["invoiceId"] == invoice {
					f.Close()
					return line
				}
			}
			f.Close()
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no line for %s in %s", invoice, s.file)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Path 1: landing with a click, sign-up (a lead), then Stripe's webhook
// for a session with no metadata, whose email matches the sign-up's in
// another case: the sale carries the lead's customer and click, and the
// file says both came from the binding.
func TestWebhookSaleFindsItsCustomerAndClickByEmail(t *testing.T) {
	s := newBindingSite(t, "")
	s.landAndSignUp("cl_landing", "user_123", "alex@example.com", 0)
	if status := s.stripeWebhook("cs_test_a1", " Alex@Example.COM"); status != 200 {
		t.Fatalf("webhook answered %d", status)
	}
	sale := s.waitPath("/track/sale", 1)[0]
	if sale["customerExternalId"] != "user_123" || sale["clickId"] != "cl_landing" {
		t.Fatalf("sale %v: want customer user_123 and click cl_landing", sale)
	}
	origin, _ := s.fileLine("pi_cs_test_a1")["origin"].(map[string]any)
	if origin["customerExternalId"] != "binding" || origin["clickId"] != "binding" {
		t.Errorf("file line's origin %v: want both from the binding", origin)
	}
	if logs := s.proc.logs.String(); strings.Contains(logs, "alex@example.com") || strings.Contains(logs, "Alex@Example.COM") {
		t.Error("an email reached the log above DEBUG")
	}
}

// Path 3: a webhook whose email no sign-up showed is rejected as before,
// with the WARN that names the missing field, and nothing is sent.
func TestWebhookSaleOfAnUnknownCustomerIsRejected(t *testing.T) {
	s := newBindingSite(t, "")
	s.landAndSignUp("cl_landing", "user_123", "alex@example.com", 0)
	if status := s.stripeWebhook("cs_test_unknown", "stranger@example.com"); status != 200 {
		t.Fatalf("webhook answered %d", status)
	}
	s.waitLog(`"msg":"sale rejected"`, `"field":"customer_id"`, "no binding knew")
	// A known customer's sale after it is delivered alone.
	s.stripeWebhook("cs_test_known", "alex@example.com")
	s.waitPath("/track/sale", 1)
	for _, r := range s.plat.Requests() {
		if strings.Contains(r.Body, "cs_test_unknown") {
			t.Fatalf("the rejected sale was sent: %s", r.Body)
		}
	}
}

// Path 4: the same customer signs up after two landings on two devices;
// the webhook sale takes the click the attribution rule says.
func TestWebhookSaleTakesFirstOrLastClick(t *testing.T) {
	for _, tc := range []struct{ attribution, want string }{{"first", "cl_phone"}, {"last", "cl_laptop"}} {
		t.Run(tc.attribution, func(t *testing.T) {
			s := newBindingSite(t, "attribution "+tc.attribution)
			s.landAndSignUp("cl_phone", "user_123", "alex@example.com", 0)
			// The second sign-up is the same lead, not sent again; the
			// binding still learns its click, before the duplicate is
			// counted.
			browser := visitor(t)
			mustDo(t, browser, http.MethodGet, s.url("/?cms_rf=cl_laptop"))
			mustDo(t, browser, http.MethodPost, s.url("/signup?user=user_123&email=alex%40example.com"))
			s.waitStat("the duplicate sign-up", func(st deliveryStats) bool { return st.Duplicates >= 1 })
			s.stripeWebhook("cs_test_fl", "alex@example.com")
			if sale := s.waitPath("/track/sale", 1)[0]; sale["clickId"] != tc.want {
				t.Fatalf("sale %v: want click %s", sale, tc.want)
			}
		})
	}
}

// The binding is on disk: it survives kill -9 and a reload.
func TestBindingSurvivesKillAndReload(t *testing.T) {
	s := newBindingSite(t, "")
	s.landAndSignUp("cl_landing", "user_123", "alex@example.com", 0)
	s.proc.kill()
	s.proc = startCaddy(t, s.dir, s.admin, s.caddyfile())
	s.stripeWebhook("cs_test_after_kill", "alex@example.com")
	if sale := s.waitPath("/track/sale", 1)[0]; sale["customerExternalId"] != "user_123" || sale["clickId"] != "cl_landing" {
		t.Fatalf("after kill -9: sale %v", sale)
	}
	s.proc.reload(s.caddyfile())
	s.stripeWebhook("cs_test_after_reload", "alex@example.com")
	if sale := s.waitPath("/track/sale", 2)[1]; sale["customerExternalId"] != "user_123" || sale["clickId"] != "cl_landing" {
		t.Fatalf("after a reload: sale %v", sale)
	}
}

// Within binding_ttl the sign-up's binding fills a webhook sale; past it,
// it is no longer used. Neither check depends on the machine's speed: the
// binding was learned after start and before the lead reached the
// platform, and a webhook is filled before its answer returns.
func TestBindingExpiresAfterItsTTL(t *testing.T) {
	const ttl = 3 * time.Second
	s := newBindingSite(t, "binding_ttl "+ttl.String())
	start := time.Now()
	s.landAndSignUp("cl_landing", "user_123", "alex@example.com", 0)
	learnedBy := time.Now()
	s.stripeWebhook("cs_test_early", "alex@example.com")
	if time.Since(start) < ttl {
		if sale := s.waitPath("/track/sale", 1)[0]; sale["customerExternalId"] != "user_123" {
			t.Fatalf("within the TTL: sale %v", sale)
		}
	} else {
		t.Logf("the machine took longer than the TTL (%s) to sign up and pay; only the expiry is checked", ttl)
	}
	time.Sleep(time.Until(learnedBy.Add(ttl))) // the clock the TTL counts by
	s.stripeWebhook("cs_test_late", "alex@example.com")
	s.waitLog(`"msg":"sale rejected"`, `"field":"customer_id"`, `"invoice_id":"pi_cs_test_late"`)
}

// Path 2: a landing, then the shop's route that creates the Checkout
// Session (its JSON answer, or a redirect to the Checkout URL), then
// Stripe's webhook for that session with no metadata and an email no one
// signed up with: the sale carries the browser's click and the customer
// the checkout request showed.
func TestWebhookSaleFindsItsClickByCheckoutReference(t *testing.T) {
	s := newBindingSite(t, "")
	for i, tc := range []struct{ route, session, click, user string }{
		{"/api/checkout-session", "cs_test_json1", "cl_json", "user_42"},
		{"/checkout/stripe", "cs_test_redirect1", "cl_redirect", "user_43"},
	} {
		browser := visitor(t)
		browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		mustDo(t, browser, http.MethodGet, s.url("/?cms_rf="+tc.click))
		learned := s.stats().BindingsLearned
		req, _ := http.NewRequest(http.MethodPost, s.url(tc.route+"?session="+tc.session), nil)
		req.Header.Set("X-User-Id", tc.user)
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// The reference is recorded after the response; wait for it.
		s.waitStat("the checkout reference", func(st deliveryStats) bool { return st.BindingsLearned > learned })

		s.stripeWebhook(tc.session, "guest-"+tc.user+"@example.com")
		sale := s.waitPath("/track/sale", i+1)[i]
		if sale["customerExternalId"] != tc.user || sale["clickId"] != tc.click {
			t.Fatalf("%s: sale %v, want customer %s and click %s", tc.route, sale, tc.user, tc.click)
		}
		origin, _ := s.fileLine("pi_" + tc.session)["origin"].(map[string]any)
		if origin["customerExternalId"] != "binding" || origin["clickId"] != "binding" {
			t.Errorf("%s: file line's origin %v", tc.route, origin)
		}
		if origin := s.recentOrigin("pi_" + tc.session); origin["customerExternalId"] != "binding" || origin["clickId"] != "binding" {
			t.Errorf("%s: GET /sale_track/recent shows the capture's origin as %v", tc.route, origin)
		}
	}
}

// recentOrigin is the origin GET /sale_track/recent shows for the capture
// of invoice.
func (s *bindingSite) recentOrigin(invoice string) map[string]any {
	s.t.Helper()
	var log struct {
		Recent []struct {
			Outcome   string         `json:"outcome"`
			InvoiceID string         `json:"invoice_id"`
			Origin    map[string]any `json:"origin"`
		} `json:"recent"`
	}
	s.proc.adminJSON(http.MethodGet, "/sale_track/recent", &log)
	for _, e := range log.Recent {
		if e.Outcome == "captured" && e.InvoiceID == invoice {
			return e.Origin
		}
	}
	s.t.Fatalf("GET /sale_track/recent lists no capture of %s", invoice)
	return nil
}
