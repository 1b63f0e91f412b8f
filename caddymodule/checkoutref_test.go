package caddymodule

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestCheckoutRefCaddyfileErrors(t *testing.T) {
	tests := []struct {
		input string
		line  int
		want  string
	}{
		{"checkout_ref {\n customer_id user.id\n}", 1, `checkout_ref: ref is required`},
		{"checkout_ref {\n ref id\n bogus x\n}", 3, `unknown subdirective "bogus"`},
		{"checkout_ref {\n ref id..x\n}", 2, `ref: gjson path "id..x": empty component`},
		{"checkout_ref {\n ref id\n customer_id\n}", 3, `wrong argument count`},
		{"checkout_ref {\n ref id\n click_id a..b\n}", 3, `click_id: gjson path "a..b"`},
		{"checkout_ref {\n ref id\n status 2xy\n}", 3, `status: "2xy"`},
		{"checkout_ref {\n ref id\n max_body lots\n}", 3, `max_body "lots"`},
		{"checkout_ref shopify", 1, `checkout_ref: unknown preset "shopify" (known: medusa)`},
		{"checkout_ref medusa extra", 1, `wrong argument count`},
	}
	for _, tt := range tests {
		var c CheckoutRef
		err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
		checkParseError(t, tt.input, err, tt.line, tt.want)
	}
}

// Ref lines add up; the parser keeps the sources as written.
func TestCheckoutRefCaddyfile(t *testing.T) {
	var c CheckoutRef
	in := "checkout_ref {\n ref id\n ref url {http.response.header.Location}\n customer_id {http.request.header.X-User-Id}\n status 2xx 303\n}"
	if err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
		t.Fatal(err)
	}
	if len(c.Ref) != 3 || c.Ref[2] != "{http.response.header.Location}" || len(c.CustomerID) != 1 || len(c.Status) != 2 || c.Status[0] != 2 {
		t.Fatalf("parsed %+v", c)
	}
	var m CheckoutRef
	if err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser("checkout_ref medusa")); err != nil || m.Preset != "medusa" {
		t.Fatalf("parsed %+v (%v)", m, err)
	}
}

// A checkout answer too large to read leaves a WARN saying its references
// were not recorded and what to raise, once a minute at most.
func TestCheckoutAnswerOverMaxBodyIsWarned(t *testing.T) {
	checkoutUnread.last.Store(0)
	app := newTestApp(t)
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Stop() })
	core, logs := observer.New(zapcore.WarnLevel)
	c := &CheckoutRef{Ref: []string{"id"}, MaxBody: 64, Status: []int{2}, app: app, logger: zap.New(core)}
	spec, err := c.buildSpec("cms_rf")
	if err != nil {
		t.Fatal(err)
	}
	c.spec = spec
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		_, err := io.WriteString(w, `{"id":"cs_test_a1","padding":"`+strings.Repeat("x", 200)+`"}`)
		return err
	})
	for range 2 {
		r := timingRequest("")
		r.AddCookie(&http.Cookie{Name: "cms_rf", Value: "clk_1"})
		if err := c.ServeHTTP(newWatchedWriter(), r, next); err != nil {
			t.Fatal(err)
		}
		if n := app.run.pending.wait(10 * time.Second); n > 0 {
			t.Fatalf("%d readings still running", n)
		}
	}
	warns := logs.FilterMessage("checkout answer not read: the references in its body are not recorded; raise max_body").All()
	if len(warns) != 1 || warns[0].ContextMap()["max_body"] != int64(64) {
		t.Fatalf("WARNs %v, want one naming max_body 64", logs.All())
	}
}
