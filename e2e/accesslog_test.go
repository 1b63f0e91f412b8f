package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// The access log shows what each checkout came to, through the fields
// sale_track and sale_event_id and through the placeholders
// {http.vars.sale_track.*} (here with log_append), although a browser's
// response is read for its sale only after it has ended.
func TestAccessLogShowsTheOutcome(t *testing.T) {
	dir := t.TempDir()
	plat := newPlatform(t)
	admin, port := fake.FreePort(), fake.FreePort()
	accessLog := filepath.Join(dir, "access.log")
	cfg := globalOptions(admin, port, filepath.Join(dir, "st"), genericTo(endpoint(plat), "")) + fmt.Sprintf(`
http://127.0.0.1:%d {
	log {
		output file %s
		format json
	}
	handle /checkout/* {
		log_append sale_status {http.vars.sale_track.status}
		log_append sale_invoice {http.vars.sale_track.invoice_id}
		%s
		reverse_proxy %s
	}
	respond /plain "plain"
}
`, port, accessLog, fake.OrderSaleTrack(), startShop(t))
	startCaddy(t, dir, admin, cfg)

	for _, path := range []string{"/checkout/inv_logged", "/checkout/pending/inv_unpaid", "/plain"} {
		if status, err := post(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d%s", port, path)); err != nil || status != 200 {
			t.Fatalf("POST %s: %d %v", path, status, err)
		}
	}
	plat.WaitInvoices(t, "inv_logged")

	type entry struct {
		Request struct {
			URI string `json:"uri"`
		} `json:"request"`
		SaleTrack   string `json:"sale_track"`
		EventID     string `json:"sale_event_id"`
		SaleStatus  string `json:"sale_status"`
		SaleInvoice string `json:"sale_invoice"`
	}
	entries := map[string]entry{}
	deadline := time.Now().Add(10 * time.Second)
	for len(entries) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("access log has %d of 3 requests: %v", len(entries), entries)
		}
		time.Sleep(20 * time.Millisecond)
		data, _ := os.ReadFile(accessLog)
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var e entry
			if json.Unmarshal([]byte(line), &e) == nil && e.Request.URI != "" {
				entries[e.Request.URI] = e
			}
		}
	}
	paid := entries["/checkout/inv_logged"]
	if paid.SaleTrack != "captured" || paid.EventID == "" || paid.SaleStatus != "captured" || paid.SaleInvoice != "inv_logged" {
		t.Errorf("the paid checkout's access log entry: %+v", paid)
	}
	if keys := plat.Keys("inv_logged"); len(keys) == 0 || keys[0] != paid.EventID {
		t.Errorf("sale_event_id %q, the platform got Idempotency-Key %v", paid.EventID, keys)
	}
	unpaid := entries["/checkout/pending/inv_unpaid"]
	if unpaid.SaleTrack != "not_sale" || unpaid.EventID != "" || unpaid.SaleStatus != "not_sale" || unpaid.SaleInvoice != "" {
		t.Errorf("the unpaid checkout's access log entry: %+v", unpaid)
	}
	if plain := entries["/plain"]; plain.SaleTrack != "" || plain.SaleStatus != "" {
		t.Errorf("a request outside sale_track's routes: %+v", plain)
	}
}
