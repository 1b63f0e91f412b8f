package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"testing"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// platformConfig puts a sign-up route (lead_track) and the shop's
// checkout (sale_track) behind click_cookie, for a hosted platform whose
// API is the fake platform.
func platformConfig(adminPort, httpPort int, shop, apiBase, storage, platform, attribution string) string {
	return globalOptions(adminPort, httpPort, storage, fmt.Sprintf("platform %s\n\t\tapi_base %s\n\t\tattribution %s", platform, apiBase, attribution)) + fmt.Sprintf(`
http://127.0.0.1:%d {
	click_cookie
	handle /signup/* {
		lead_track {
			customer_id customer.id
			email       customer.email
		}
		header Content-Type application/json
		respond `+"`"+`{"customer":{"id":"user_123","email":"alex@example.com"}}`+"`"+` 201
	}
	handle /checkout/* {
		%s
		reverse_proxy %s
	}
	reverse_proxy %s
}
`, httpPort, fake.OrderSaleTrack(), shop, shop)
}

// visitor is a browser: it keeps cookies.
func visitor(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func mustDo(t *testing.T, client *http.Client, method, url string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d", method, url, resp.StatusCode)
	}
}

// The whole chain on each hosted platform: a landing with the platform's
// click parameter, a sign-up, a checkout. The platform gets one lead at
// /track/lead and one sale at /track/sale, in its own fields, with the
// same customer and click.
func TestClickLeadSaleOnEachPlatform(t *testing.T) {
	for _, tc := range []struct {
		platform, param                string
		customer, click, event, amount string
	}{
		{"cutmeshort", "cms_rf", "customerExternalId", "clickId", "eventName", "amount"},
		{"dub", "dub_id", "customerExternalId", "clickId", "eventName", "amount"},
	} {
		t.Run(tc.platform, func(t *testing.T) {
			dir := t.TempDir()
			plat := newPlatform(t)
			admin, port := fake.FreePort(), fake.FreePort()
			startCaddy(t, dir, admin, platformConfig(admin, port, startShop(t), plat.URL, filepath.Join(dir, "st"), tc.platform, "last"))
			site := fmt.Sprintf("http://127.0.0.1:%d", port)
			browser := visitor(t)
			mustDo(t, browser, http.MethodGet, site+"/?"+tc.param+"=cl_"+tc.platform)
			mustDo(t, browser, http.MethodPost, site+"/signup/")
			mustDo(t, browser, http.MethodPost, site+"/checkout/inv_"+tc.platform)

			reqs := plat.WaitRequests(t, 2)
			got := map[string]map[string]any{}
			for _, r := range reqs {
				var body map[string]any
				if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
					t.Fatalf("%s: %v", r.Path, err)
				}
				got[r.Path] = body
				if r.Header.Get("Authorization") != "Bearer e2e-secret-key" {
					t.Errorf("%s: no API key", r.Path)
				}
			}
			lead, sale := got["/track/lead"], got["/track/sale"]
			if lead == nil || sale == nil {
				t.Fatalf("requests to %v, want /track/lead and /track/sale", got)
			}
			for _, ev := range []map[string]any{lead, sale} {
				if ev[tc.customer] != "user_123" || ev[tc.click] != "cl_"+tc.platform {
					t.Errorf("event %v: want customer user_123 and click cl_%s", ev, tc.platform)
				}
			}
			if _, ok := sale[tc.amount].(float64); !ok {
				t.Errorf("sale %v has no numeric amount", sale)
			}
		})
	}
}

// First-click attribution keeps the first valid click through a second
// landing; last-click takes the newest.
func TestFirstAndLastClick(t *testing.T) {
	for _, tc := range []struct{ attribution, want string }{{"first", "cl_first"}, {"last", "cl_second"}} {
		t.Run(tc.attribution, func(t *testing.T) {
			dir := t.TempDir()
			plat := newPlatform(t)
			admin, port := fake.FreePort(), fake.FreePort()
			startCaddy(t, dir, admin, platformConfig(admin, port, startShop(t), plat.URL, filepath.Join(dir, "st"), "cutmeshort", tc.attribution))
			site := fmt.Sprintf("http://127.0.0.1:%d", port)
			browser := visitor(t)
			mustDo(t, browser, http.MethodGet, site+"/?cms_rf=cl_first")
			mustDo(t, browser, http.MethodGet, site+"/?cms_rf=cl_second")
			mustDo(t, browser, http.MethodPost, site+"/checkout/inv_"+tc.attribution)
			var sale map[string]any
			if err := json.Unmarshal([]byte(plat.WaitRequests(t, 1)[0].Body), &sale); err != nil {
				t.Fatal(err)
			}
			if sale["clickId"] != tc.want {
				t.Fatalf("clickId %v, want %s", sale["clickId"], tc.want)
			}
		})
	}
}
