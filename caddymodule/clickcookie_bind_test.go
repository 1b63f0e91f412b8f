package caddymodule

import (
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestClickCookieBindCaddyfile(t *testing.T) {
	var c ClickCookie
	if err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser("click_cookie {\n bind {http.request.cookie._medusa_cart_id} {http.request.header.X-Cart}\n}")); err != nil {
		t.Fatal(err)
	}
	if len(c.Bind) != 2 || c.Bind[1] != "{http.request.header.X-Cart}" {
		t.Fatalf("bind %v", c.Bind)
	}
	for input, want := range map[string]string{
		"click_cookie {\n bind\n}":                 `wrong argument count`,
		"click_cookie {\n bind _medusa_cart_id\n}": `bind "_medusa_cart_id": want a placeholder`,
	} {
		var c ClickCookie
		err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		checkParseError(t, input, err, 2, want)
	}
	// A JSON config is held to the same rule.
	if err := (&ClickCookie{Cookie: "cms_rf", MaxAge: 1e9, Bind: []string{"cart"}}).Validate(); err == nil {
		t.Fatal("a bind that is no placeholder validated")
	}
}

// A pair is new once; a reference with another click is new again.
func TestRecentPairs(t *testing.T) {
	var p recentPairs
	for i, step := range []struct {
		ref, click string
		isNew      bool
	}{{"cart_1", "cl_a", true}, {"cart_1", "cl_a", false}, {"cart_1", "cl_b", true}, {"cart_2", "cl_b", true}} {
		if got := p.isNew(step.ref, step.click); got != step.isNew {
			t.Errorf("step %d: isNew(%s, %s) = %v", i, step.ref, step.click, got)
		}
	}
}
