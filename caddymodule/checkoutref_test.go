package caddymodule

import (
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
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
