package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// deadPage is GET /sale_track/dead's answer.
type deadPage struct {
	Total       int              `json:"total"`
	DeadLetters []map[string]any `json:"dead_letters"`
}

// waitDeadLetters waits for a dead letter and returns the first page.
func (p *caddyProc) waitDeadLetters() deadPage {
	p.t.Helper()
	var page deadPage
	deadline := time.Now().Add(10 * time.Second)
	for page.Total == 0 {
		if time.Now().After(deadline) {
			p.t.Fatal("no dead letter appeared")
		}
		time.Sleep(20 * time.Millisecond)
		p.adminJSON(http.MethodGet, "/sale_track/dead", &page)
	}
	return page
}

// A 422 from the platform is permanent: the sale becomes a dead letter with
// the status and the body, visible on the admin API; once the platform is
// fixed, replaying it delivers it.
func TestDeadLettersAndReplayThroughAdmin(t *testing.T) {
	dir := t.TempDir()
	plat := newPlatform(t)
	plat.Fail(http.StatusUnprocessableEntity, `{"error":"unknown customerExternalId"}`)
	admin, port := fake.FreePort(), fake.FreePort()
	proc := startCaddy(t, dir, admin, config(admin, port, startShop(t), endpoint(plat), filepath.Join(dir, "st"), ""))
	if _, err := post(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/checkout/inv_dead_1", port)); err != nil {
		t.Fatal(err)
	}

	page := proc.waitDeadLetters()
	if page.Total != 1 || len(page.DeadLetters) != 1 {
		t.Fatalf("dead letters: %+v", page)
	}
	dl := page.DeadLetters[0]
	if dl["status"] != float64(422) || dl["body"] != `{"error":"unknown customerExternalId"}` {
		t.Fatalf("dead letter lacks the status or the body: %v", dl)
	}
	if len(plat.Accepted()) != 0 {
		t.Fatal("a rejected sale was recorded as accepted")
	}

	plat.Accept()
	var replayed struct {
		Replayed int `json:"replayed"`
	}
	if status := proc.adminJSON(http.MethodPost, "/sale_track/dead/replay?invoice_id=inv_dead_1", &replayed); status != 200 || replayed.Replayed != 1 {
		t.Fatalf("replay: %d %+v", status, replayed)
	}
	plat.WaitInvoices(t, "inv_dead_1")
	proc.adminJSON(http.MethodGet, "/sale_track/dead", &page)
	if page.Total != 0 {
		t.Fatalf("%d dead letters left after the replay", page.Total)
	}
	if status := proc.adminJSON(http.MethodGet, "/sale_track/flush", nil); status != http.StatusMethodNotAllowed {
		t.Errorf("GET /sale_track/flush = %d, want 405", status)
	}
}
