package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/saletrack/caddy-saletrack/internal/fake"
	"github.com/saletrack/caddy-saletrack/sale"
)

// Each platform's click parameter sets a cookie of the same name; the
// other platforms' parameters are not clicks there.
func TestClickCookiePlatformDefaults(t *testing.T) {
	const all = "/landing?cms_rf=%s&dub_id=%s&clickId=%s"
	tests := []struct {
		app     clickApp
		target  string
		cookie  string
		varWant any
	}{
		{clickApp{}, "/?cms_rf=abc", "cms_rf=abc", "abc"},
		{clickApp{platform: "cutmeshort"}, "/?cms_rf=google_cpc", "cms_rf=google_cpc", "google_cpc"},
		{clickApp{platform: "cutmeshort"}, "/?cms_rf=550e8400-e29b-41d4-a716-446655440000", "cms_rf=550e8400-e29b-41d4-a716-446655440000", "550e8400-e29b-41d4-a716-446655440000"},
		{clickApp{platform: "cutmeshort"}, "/?clickId=abc", "", nil},
		{clickApp{platform: "cutmeshort"}, "/?dub_id=abc", "", nil},
		{clickApp{platform: "cutmeshort"}, fmt.Sprintf(all, "c1", "d1", "g1"), "cms_rf=c1", "c1"},
		{clickApp{platform: "dub"}, "/?dub_id=Xk3L9pQ2mZ7bT1aV", "dub_id=Xk3L9pQ2mZ7bT1aV", "Xk3L9pQ2mZ7bT1aV"},
		{clickApp{platform: "dub"}, "/?cms_rf=abc&clickId=abc", "", nil},
		{clickApp{platform: "dub"}, fmt.Sprintf(all, "c1", "d1", "g1"), "dub_id=d1", "d1"},
		{clickApp{platform: "generic"}, "/?clickId=cl_42", "clickId=cl_42", "cl_42"},
		{clickApp{platform: "generic"}, "/?cms_rf=abc&dub_id=abc", "", nil},
		{clickApp{platform: "generic"}, fmt.Sprintf(all, "c1", "d1", "g1"), "clickId=g1", "g1"},
	}
	for _, tt := range tests {
		t.Run(tt.app.platform+tt.target, func(t *testing.T) {
			var c ClickCookie
			cookies, seen := serveClick(t, &c, tt.app, clickRequest(tt.target, false, ""))
			want := ""
			if tt.cookie != "" {
				want = tt.cookie + "; Path=/; Max-Age=7776000; HttpOnly; SameSite=Lax"
			}
			checkClick(t, cookies, seen, want, tt.varWant)
		})
	}
}

// param and cookie still override the platform's names.
func TestClickCookieOverridesPlatform(t *testing.T) {
	c := ClickCookie{Params: []string{"ref"}, Cookie: "st"}
	cookies, seen := serveClick(t, &c, clickApp{platform: "dub"}, clickRequest("/?dub_id=d1&ref=r1", false, ""))
	checkClick(t, cookies, seen, "st=r1; Path=/; Max-Age=7776000; HttpOnly; SameSite=Lax", "r1")
}

// last replaces the cookie with each new valid click; first keeps a valid
// existing one, neither replacing nor renewing it, and the variable is
// the kept click. An invalid existing cookie is replaced under both.
func TestClickCookieAttribution(t *testing.T) {
	const set = "; Path=/; Max-Age=7776000; HttpOnly; SameSite=Lax"
	tests := []struct {
		name        string
		attribution string
		target      string
		existing    string // the request's Cookie header
		cookie      string // the click cookie set, "" for none
		varWant     any
	}{
		{"last, no cookie", AttributionLast, "/?cms_rf=new", "", "cms_rf=new" + set, "new"},
		{"last, valid cookie", AttributionLast, "/?cms_rf=new", "cms_rf=old", "cms_rf=new" + set, "new"},
		{"last, invalid cookie", AttributionLast, "/?cms_rf=new", "cms_rf=bad%20one", "cms_rf=new" + set, "new"},
		{"last, same click", AttributionLast, "/?cms_rf=old", "cms_rf=old", "cms_rf=old" + set, "old"},
		{"first, no cookie", AttributionFirst, "/?cms_rf=new", "", "cms_rf=new" + set, "new"},
		{"first, valid cookie", AttributionFirst, "/?cms_rf=new", "session=s; cms_rf=old", "", "old"},
		{"first, invalid cookie", AttributionFirst, "/?cms_rf=new", "cms_rf=bad%20one", "cms_rf=new" + set, "new"},
		{"first, empty cookie", AttributionFirst, "/?cms_rf=new", "cms_rf=", "cms_rf=new" + set, "new"},
		{"first, over-long cookie", AttributionFirst, "/?cms_rf=new", "cms_rf=" + strings.Repeat("a", sale.MaxClickIDLength+1), "cms_rf=new" + set, "new"},
		{"first, another platform's cookie", AttributionFirst, "/?cms_rf=new", "dub_id=old; clickId=old", "cms_rf=new" + set, "new"},
		// Without a new valid click nothing is set under either rule; the
		// sale reads the cookie itself.
		{"first, invalid click", AttributionFirst, "/?cms_rf=%3Cx%3E", "cms_rf=old", "", nil},
		{"last, invalid click", AttributionLast, "/?cms_rf=%3Cx%3E", "cms_rf=old", "", nil},
		{"first, no click", AttributionFirst, "/?utm_source=x", "cms_rf=old", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c ClickCookie
			app := clickApp{platform: "cutmeshort", attribution: tt.attribution}
			cookies, seen := serveClick(t, &c, app, clickRequest(tt.target, false, tt.existing))
			checkClick(t, cookies, seen, tt.cookie, tt.varWant)
		})
	}
}

// The handler's default click sources are the variable, then the
// platform's cookie; with no app (the Caddyfile parser's check) the
// default platform's.
func TestSaleTrackDefaultClickSources(t *testing.T) {
	tests := []struct{ platform, cookie string }{
		{"", "cms_rf"}, {"cutmeshort", "cms_rf"}, {"dub", "dub_id"}, {"generic", "clickId"},
	}
	for _, tt := range tests {
		h := &Handler{Amount: []string{"order.total"}, CustomerID: []string{"order.customer.id"}}
		if tt.platform != "" {
			platform, err := sale.LookupPlatform(tt.platform)
			if err != nil {
				t.Fatal(err)
			}
			h.app = &App{platform: platform}
		}
		spec, err := sale.BuildSpec(h.specConfig())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, src := range spec.Sources[sale.FieldClickID] {
			got = append(got, src.Placeholder)
		}
		want := []string{"{http.vars.click_id}", "{http.request.cookie." + tt.cookie + "}"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("platform %q: click sources %q, want %q", tt.platform, got, want)
		}
	}
}

// Through a running Caddy, each platform's landing sets its own cookie,
// a checkout's sale carries the click of the platform's cookie, and the
// attribution rule decides a checkout that brings a click of its own.
func TestClickThroughCaddyPerPlatform(t *testing.T) {
	const cookies = "cms_rf=cl_cms; dub_id=cl_dub; clickId=cl_generic"
	tests := []struct {
		platform, attribution string
		param, cookie, click  string // the platform's names, and its click in cookies
	}{
		{"cutmeshort", "last", "cms_rf", "cms_rf", "cl_cms"},
		{"cutmeshort", "first", "cms_rf", "cms_rf", "cl_cms"},
		{"dub", "last", "dub_id", "dub_id", "cl_dub"},
		{"dub", "first", "dub_id", "dub_id", "cl_dub"},
		{"generic", "last", "clickId", "clickId", "cl_generic"},
	}
	for _, tt := range tests {
		t.Run(tt.platform+"_"+tt.attribution, func(t *testing.T) {
			shop, plat := newShop(t), newPlatform(t)
			// loadConfig's own "platform generic" comes first; the
			// last platform line is the one that counts.
			tester := loadConfig(t, fmt.Sprintf(`
			platform %s
			attribution %s
			api_key test-key-123
			endpoint %s
			storage_dir %s
			backoff_base 10ms
			backoff_cap 50ms`, tt.platform, tt.attribution, plat.URL, t.TempDir()), fmt.Sprintf(`
	%s {
		click_cookie
		handle /checkout/* {
			%s
			reverse_proxy %s
		}
		respond "click={http.vars.click_id}" 200
	}`, siteURL, fake.OrderSaleTrack("route "+tt.platform), shop.Addr))

			// A landing with every platform's parameter: only this
			// platform's is a click.
			resp, body := getWithCookies(t, tester, "/?cms_rf=new_cms&dub_id=new_dub&clickId=new_generic", "")
			newClick := "new_" + strings.TrimPrefix(tt.click, "cl_")
			if got := resp.Header.Values("Set-Cookie"); len(got) != 1 || !strings.HasPrefix(got[0], tt.cookie+"="+newClick+"; Path=/;") {
				t.Errorf("landing Set-Cookie = %q, want one %s=%s", got, tt.cookie, newClick)
			}
			if body != "click="+newClick {
				t.Errorf("landing {http.vars.click_id}: %q, want click=%s", body, newClick)
			}

			// With a click cookie already there, first keeps it.
			resp, body = getWithCookies(t, tester, "/?"+tt.param+"=cl_newer", cookies)
			wantVar, wantSet := "cl_newer", true
			if tt.attribution == "first" {
				wantVar, wantSet = tt.click, false
			}
			if got := resp.Header.Values("Set-Cookie"); (len(got) == 1) != wantSet {
				t.Errorf("return visit Set-Cookie = %q, want set: %v", got, wantSet)
			}
			if body != "click="+wantVar {
				t.Errorf("return visit {http.vars.click_id}: %q, want click=%s", body, wantVar)
			}

			// The sale reads the platform's cookie, and on a checkout that
			// brings its own click, the variable the rule decided.
			postWithCookies(t, tester, "/checkout/plain/inv_cookie", cookies)
			postWithCookies(t, tester, "/checkout/plain/inv_query?"+tt.param+"=cl_newer", cookies)
			got := map[string]string{}
			for _, r := range plat.WaitRequests(t, 2) {
				var ev struct{ InvoiceID, ClickID string }
				if err := json.Unmarshal([]byte(r.Body), &ev); err != nil {
					t.Fatalf("platform got %s: %v", r.Body, err)
				}
				got[ev.InvoiceID] = ev.ClickID
			}
			want := map[string]string{"inv_cookie": tt.click, "inv_query": wantVar}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("platform got clicks %v, want %v", got, want)
			}
		})
	}
}

// click_cookie reads the app only where the config has one: alone, it
// starts no delivery (no outbox in Caddy's data directory, no rates
// fetch) and uses the default platform's names.
func TestClickCookieWithoutTheApp(t *testing.T) {
	tester := loadGlobal(t, "", fmt.Sprintf(`
	%s {
		click_cookie
		respond "click={http.vars.click_id}" 200
	}`, siteURL))
	resp, body := getWithCookies(t, tester, "/?cms_rf=cl_42&clickId=cl_other", "")
	if got := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(got, "cms_rf=cl_42; Path=/;") || body != "click=cl_42" {
		t.Errorf("Set-Cookie %q, body %q; want the cms_rf click", got, body)
	}
	if live := liveDeliveries(); len(live) != 0 {
		t.Errorf("%d deliveries are open for a config without sale_track", len(live))
	}
}

func getWithCookies(t *testing.T, tester *caddytest.Tester, path, cookies string) (*http.Response, string) {
	return doWithCookies(t, tester, http.MethodGet, path, cookies)
}

func postWithCookies(t *testing.T, tester *caddytest.Tester, path, cookies string) (*http.Response, string) {
	return doWithCookies(t, tester, http.MethodPost, path, cookies)
}

// doWithCookies sends a request to the in-process site with the Cookie
// header given ("" for none), and returns the response and its body.
func doWithCookies(t *testing.T, tester *caddytest.Tester, method, path, cookies string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, siteURL+path, nil)
	if cookies != "" {
		req.Header.Set("Cookie", cookies)
	}
	// Not the tester's client: its cookie jar would add the cookies of
	// earlier responses.
	resp, err := tester.Client.Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}
