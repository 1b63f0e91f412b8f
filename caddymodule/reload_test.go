package caddymodule

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A reload that fails after the sale_track app started (another site
// cannot bind its port) must not leave the rejected config's endpoint in
// force: Caddy keeps running the old config, and so must the delivery.
func TestFailedReloadKeepsTheRunningSettings(t *testing.T) {
	shop, good, rejected := newShop(t), newPlatform(t), newPlatform(t)
	storage := t.TempDir()
	tester := startCaddy(t, shop.URL, good.URL, storage)

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	bad := fmt.Sprintf(`{
		admin localhost:2999
		http_port 9080
		skip_install_trust
		sale_track {
			fx_source http://127.0.0.1:9/eurofxref-daily.xml
			endpoint %s
			storage_dir %s
		}
	}
	http://localhost:9080 {
		reverse_proxy %s
	}
	http://%s {
		respond "never"
	}`, rejected.URL, storage, strings.TrimPrefix(shop.URL, "http://"), busy.Addr())
	// Caddy starts apps in no fixed order; several tries make it likely that
	// sale_track started (and took the new settings) before http failed.
	for i := 0; i < 6; i++ {
		req, _ := http.NewRequest(http.MethodPost, "http://localhost:2999/load", strings.NewReader(bad))
		req.Header.Set("Content-Type", "text/caddyfile")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("the bad config loaded: %s", body)
		}
	}
	checkout(t, tester, "/checkout/plain/inv_after_failed_reload")
	good.waitFor(t, 1)
	time.Sleep(100 * time.Millisecond)
	if rejected.count() != 0 {
		t.Fatalf("the rejected config's endpoint received %d events", rejected.count())
	}
}
