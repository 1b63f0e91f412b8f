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
// Caddy starts apps in a Go map's random order, and a failed reload only
// reaches the restore when sale_track started before http failed: the
// test reloads until the delivery has counted a restore (about every
// other reload does), at most a hundred times.
func TestFailedReloadKeepsTheRunningSettings(t *testing.T) {
	shop, good, rejected := newShop(t), newPlatform(t), newPlatform(t)
	storage := t.TempDir()
	tester := startCaddy(t, shop.Addr, good.URL, storage)
	running := livePipeline(storage)
	if running == nil {
		t.Fatal("no delivery runs for the storage directory")
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	bad := fmt.Sprintf(`{
		admin localhost:%d
		http_port %d
		https_port %d
		skip_install_trust
		sale_track {
			platform generic
			fx_source http://127.0.0.1:9/eurofxref-daily.xml
			endpoint %s
			storage_dir %s
		}
	}
	%s {
		reverse_proxy %s
	}
	http://%s {
		respond "never"
	}`, adminPort, httpPort, httpsPort, rejected.URL, storage, siteURL, shop.Addr, busy.Addr())
	const tries = 100
	i := 0
	for ; running.restores.Load() == 0; i++ {
		if i == tries {
			t.Fatalf("none of %d failed reloads restored the running settings", tries)
		}
		req, _ := http.NewRequest(http.MethodPost, adminURL+"/load", strings.NewReader(bad))
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
	t.Logf("restored after %d failed reloads", i)
	if livePipeline(storage) != running {
		t.Fatal("a failed reload replaced the running delivery")
	}
	checkout(t, tester, "/checkout/plain/inv_after_failed_reload")
	good.WaitInvoices(t, "inv_after_failed_reload")
	time.Sleep(100 * time.Millisecond)
	if n := len(rejected.Requests()); n != 0 {
		t.Fatalf("the rejected config's endpoint received %d events", n)
	}
}
