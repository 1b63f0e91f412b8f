package caddymodule

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The status command passes the page's own requests to the admin API and
// refuses what another site, or another host name, sends it.
func TestStatusProxyChecks(t *testing.T) {
	var forwarded []string
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forwarded = append(forwarded, r.Method+" "+r.URL.RequestURI())
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "page")
	}))
	defer admin.Close()
	proxy := httptest.NewServer(nil)
	defer proxy.Close()
	proxy.Config.Handler = newStatusProxy(strings.TrimPrefix(admin.URL, "http://"), proxy.Listener.Addr())
	_, port, _ := net.SplitHostPort(proxy.Listener.Addr().String())
	typed := "localhost:" + port

	do := func(method, path string, header map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest(method, proxy.URL+path, nil)
		for k, v := range header {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name, method, path string
		header             map[string]string
		want               int
	}{
		{"the page", "GET", "/sale_track/", map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{"its replay", "POST", "/sale_track/dead/replay?invoice_id=a", map[string]string{"Origin": proxy.URL, "Sec-Fetch-Site": "same-origin"}, 200},
		{"another site's replay", "POST", "/sale_track/dead/replay?invoice_id=b", map[string]string{"Origin": "http://evil.example"}, 403},
		{"a cross-site request", "GET", "/sale_track/dead", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"another host name", "GET", "/sale_track/", map[string]string{"Host": "rebound.example"}, 403},
		{"the page by the name a person types", "GET", "/sale_track/", map[string]string{"Host": typed, "Sec-Fetch-Site": "none"}, 200},
		{"its replay by that name", "POST", "/sale_track/dead/replay?invoice_id=c", map[string]string{"Host": typed, "Origin": "http://" + typed, "Sec-Fetch-Site": "same-origin"}, 200},
		{"a replay from the other name", "POST", "/sale_track/dead/replay?invoice_id=d", map[string]string{"Host": typed, "Origin": proxy.URL}, 403},
		{"another port on localhost", "GET", "/sale_track/", map[string]string{"Host": "localhost:1"}, 403},
		{"the page without its slash, redirected", "GET", "/sale_track", nil, 200},
		{"a route the page does not use", "POST", "/sale_track/flush", nil, 404},
		{"the config", "GET", "/config/", nil, 404},
		{"a replay by GET", "GET", "/sale_track/dead/replay", nil, 405},
	}
	for _, tt := range tests {
		if got := do(tt.method, tt.path, tt.header); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	want := []string{"GET /sale_track/", "POST /sale_track/dead/replay?invoice_id=a", "GET /sale_track/", "POST /sale_track/dead/replay?invoice_id=c", "GET /sale_track/"}
	if strings.Join(forwarded, ",") != strings.Join(want, ",") {
		t.Errorf("forwarded %v, want %v", forwarded, want)
	}
}
