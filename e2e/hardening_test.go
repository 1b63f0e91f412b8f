package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// webhookConfig puts a webhook receiver (source request) in front of the
// shop's /webhooks/ route; extra goes into the global sale_track block.
func webhookConfig(adminPort, httpPort int, shop, endpoint, storage string, extra ...string) string {
	return globalOptions(adminPort, httpPort, storage, genericTo(endpoint, strings.Join(extra, "\n\t\t"))) + fmt.Sprintf(`
http://127.0.0.1:%d {
	handle /webhooks/* {
		sale_track {
			source      request
			amount      data.amount
			invoice_id  data.id
			customer_id data.customer
		}
		reverse_proxy %s
	}
}
`, httpPort, shop)
}

// sendWebhook posts one signed webhook as a payment provider would and
// reports whether it got a 2xx.
func sendWebhook(port int, invoice string) bool {
	body := fmt.Sprintf(`{"type":"payment.succeeded","data":{"id":%q,"amount":"19.90","customer":"cus_%s"}}`, invoice, invoice)
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/webhooks/pay", port), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature", "valid")
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode <= 299
}

// A provider's 2xx means the sale is committed: Caddy killed the moment a
// webhook's answer arrives, or the moment the shop has it, loses nothing.
// Webhooks that got no 2xx are sent again, as providers do, and every
// sale arrives, as one sale.
func TestWebhookSurvivesAKillAtItsAnswer(t *testing.T) {
	dir := t.TempDir()
	plat := newPlatform(t)
	shop := fake.NewShop()
	t.Cleanup(shop.Close)
	admin, port := fake.FreePort(), fake.FreePort()
	cfg := webhookConfig(admin, port, shop.Addr, endpoint(plat), filepath.Join(dir, "st"))

	var invoices, unanswered []string
	for round := 0; round < 6; round++ {
		proc := startCaddy(t, dir, admin, cfg)
		for _, invoice := range unanswered {
			if !sendWebhook(port, invoice) {
				t.Fatalf("%s: resent to a running Caddy, no 2xx", invoice)
			}
		}
		unanswered = nil
		invoice := fmt.Sprint("inv_hook_", round)
		invoices = append(invoices, invoice)
		if round%2 == 0 {
			// Kill the moment the answer arrives: a 2xx must already mean
			// the sale is on disk.
			if !sendWebhook(port, invoice) {
				t.Fatalf("%s: no 2xx from a running Caddy", invoice)
			}
			proc.kill()
			continue
		}
		// Kill the moment the shop has the webhook: between its answer and
		// the commit. The provider then has no 2xx and sends again.
		seen := len(shop.Webhooks())
		answered := make(chan bool, 1)
		go func() { answered <- sendWebhook(port, invoice) }()
		for deadline := time.Now().Add(5 * time.Second); len(shop.Webhooks()) == seen; {
			if time.Now().After(deadline) {
				t.Fatalf("%s never reached the shop", invoice)
			}
			time.Sleep(100 * time.Microsecond)
		}
		proc.kill()
		if !<-answered {
			unanswered = append(unanswered, invoice)
		}
	}
	startCaddy(t, dir, admin, cfg)
	for _, invoice := range unanswered {
		if !sendWebhook(port, invoice) {
			t.Fatalf("%s: resent to a running Caddy, no 2xx", invoice)
		}
	}
	plat.WaitInvoices(t, invoices...)
	// A kill can cut a delivery short, and the next start sends it again:
	// at least once, always under the sale's one Idempotency-Key.
	for _, invoice := range invoices {
		if keys := plat.Keys(invoice); slices.ContainsFunc(keys, func(k string) bool { return k != keys[0] }) {
			t.Errorf("%s arrived under several keys: %v", invoice, keys)
		}
	}
}

// zeroBucketRoot overwrites the root page of an outbox bucket with zeros,
// as a torn write would leave it, while the file may be open elsewhere.
func zeroBucketRoot(t *testing.T, path, bucket string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var root int64
	err = db.View(func(tx *bolt.Tx) error {
		root = int64(tx.Bucket([]byte(bucket)).Root())
		return nil
	})
	pageSize := int64(db.Info().PageSize)
	db.Close()
	if err != nil || root == 0 {
		t.Fatalf("bucket %s: root %d, %v", bucket, root, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, pageSize), root*pageSize); err != nil {
		t.Fatal(err)
	}
}

// A damaged page in the dedup bucket, found at the next start, neither
// crashes Caddy nor stops it from serving: the file is set aside, and new
// sales are delivered.
func TestDamagedBucketKeepsCaddyServing(t *testing.T) {
	dir := t.TempDir()
	storage := filepath.Join(dir, "st")
	plat := newPlatform(t)
	plat.Down()
	admin, port := fake.FreePort(), fake.FreePort()
	cfg := config(admin, port, startShop(t), endpoint(plat), storage, "")
	proc := startCaddy(t, dir, admin, cfg)
	checkoutMany(t, port, "inv_before_damage", 300)
	waitEnqueued(t, proc, 300)
	proc.stop(10 * time.Second)
	zeroBucketRoot(t, filepath.Join(storage, "outbox.db"), "dedup")

	proc = startCaddy(t, dir, admin, cfg)
	if err := plat.Up(); err != nil {
		t.Fatal(err)
	}
	checkoutMany(t, port, "inv_after_damage", 1)
	plat.WaitInvoices(t, "inv_after_damage_0")
	aside, _ := filepath.Glob(filepath.Join(storage, "outbox.db.corrupt-*"))
	if len(aside) != 1 || !strings.Contains(proc.logs.String(), aside[0]) {
		t.Fatalf("files set aside %v; the log must say where", aside)
	}
	select {
	case <-proc.done:
		t.Fatalf("caddy exited:\n%s", proc.logs.String())
	default:
	}
}

// A browser's response completes before its sale is committed; stopping
// Caddy the moment the last responses arrive still commits every one of
// them before the process ends.
func TestStopRightAfterCheckoutsLosesNone(t *testing.T) {
	dir := t.TempDir()
	plat := newPlatform(t)
	plat.Down()
	admin, port := fake.FreePort(), fake.FreePort()
	cfg := config(admin, port, startShop(t), endpoint(plat), filepath.Join(dir, "st"), "")
	proc := startCaddy(t, dir, admin, cfg)
	var ids []string
	var wg sync.WaitGroup
	var mu sync.Mutex
	for c := 0; c < 8; c++ {
		wg.Go(func() {
			for i := 0; i < 5; i++ {
				id := fmt.Sprintf("inv_stop_%d_%d", c, i)
				if status, err := post(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/checkout/%s", port, id)); err != nil || status != 200 {
					t.Errorf("checkout %s: %d %v", id, status, err)
					return
				}
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	proc.stop(15 * time.Second)

	if err := plat.Up(); err != nil {
		t.Fatal(err)
	}
	startCaddy(t, dir, admin, cfg)
	plat.WaitInvoices(t, ids...)
}
