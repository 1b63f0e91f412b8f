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
		{"checkout_ref id {\n bogus x\n}", 2, `unknown subdirective "bogus"`},
		{"checkout_ref id..x", 1, `ref: gjson path "id..x": empty component`},
		{"checkout_ref id {\n customer_id\n}", 2, `wrong argument count`},
		{"checkout_ref id {\n click_id a..b\n}", 2, `click_id: gjson path "a..b"`},
		{"checkout_ref id {\n status 2xy\n}", 2, `status: "2xy"`},
		{"checkout_ref id {\n max_body lots\n}", 2, `max_body "lots"`},
	}
	for _, tt := range tests {
		var c CheckoutRef
		err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
		checkParseError(t, tt.input, err, tt.line, tt.want)
	}
}

// The directive's arguments and its ref lines add up; the parser keeps
// the sources as written.
func TestCheckoutRefCaddyfile(t *testing.T) {
	var c CheckoutRef
	in := "checkout_ref id {\n ref url {http.response.header.Location}\n customer_id {http.request.header.X-User-Id}\n status 2xx 303\n}"
	if err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
		t.Fatal(err)
	}
	if len(c.Ref) != 3 || c.Ref[2] != "{http.response.header.Location}" || len(c.CustomerID) != 1 || len(c.Status) != 2 || c.Status[0] != 2 {
		t.Fatalf("parsed %+v", c)
	}
}
