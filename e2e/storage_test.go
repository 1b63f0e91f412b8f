package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// With the platform down and max_storage reached, a sale that cannot be
// stored is not dropped silently: an ERROR line carries every field needed
// to resend it (but not the email or the name) and the response is
// untouched.
func TestStorageFullLeavesARecoverableTrace(t *testing.T) {
	dir := t.TempDir()
	plat := newPlatform(t)
	plat.Down() // for the whole test
	admin, port := fake.FreePort(), fake.FreePort()
	proc := startCaddy(t, dir, admin, config(admin, port, startShop(t), endpoint(plat), filepath.Join(dir, "st"), "max_storage 1MiB\n\t\tbackoff_base 1h\n\t\tbackoff_cap 2h"))

	client := &http.Client{}
	failedAt := -1
	for i := 0; i < 20000 && failedAt < 0; i++ {
		status, err := post(client, fmt.Sprintf("http://127.0.0.1:%d/checkout/inv_full_%d", port, i))
		if err != nil || status != 200 {
			t.Fatalf("checkout %d: %d %v: a full outbox must not change the response", i, status, err)
		}
		if i%50 == 0 && strings.Contains(proc.logs.String(), "sale could not be stored") {
			failedAt = i
		}
	}
	if failedAt < 0 {
		t.Fatal("the outbox never filled up")
	}
	var line map[string]any
	sc := bufio.NewScanner(strings.NewReader(proc.logs.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "sale could not be stored") {
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if line["level"] != "error" {
		t.Errorf("level = %v", line["level"])
	}
	for _, field := range []string{"event_id", "event", "timestamp", "customer_id", "amount", "currency", "invoice_id"} {
		if s, _ := line[field].(string); s == "" {
			t.Errorf("the ERROR line lacks %s: %v", field, line)
		}
	}
	if line["amount"] != "199.0" || line["currency"] != "USD" || line["customer_id"] != "user_123" || !strings.HasPrefix(line["invoice_id"].(string), "inv_full_") {
		t.Errorf("the ERROR line's sale: %v", line)
	}
	if logs := proc.logs.String(); strings.Contains(logs, "alex@example.com") || strings.Contains(logs, "Alex Johnson") {
		t.Error("an email or a name reached the logs")
	}
}
