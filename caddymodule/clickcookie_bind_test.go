package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
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

// A pair whose record failed (here, an outbox already closed) is
// forgotten, so the next request with it records it again rather than
// skipping it as recorded.
func TestBindForgetsAPairItCouldNotRecord(t *testing.T) {
	a := newTestApp(t)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	if err := a.currentPipeline().outbox.Close(); err != nil {
		t.Fatal(err)
	}
	c := &ClickCookie{Cookie: "cms_rf", Bind: []string{"{http.request.cookie._medusa_cart_id}"}, app: a, recent: new(recentPairs)}
	r := httptest.NewRequest(http.MethodGet, "/cart", nil)
	r.Header.Set("Cookie", "cms_rf=cl_1; _medusa_cart_id=cart_1")
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddyhttp.NewTestReplacer(r)))
	c.bindRefs(r)
	if n := a.run.pending.wait(10 * time.Second); n > 0 {
		t.Fatalf("%d records still running", n)
	}
	if !c.recent.isNew("cart_1", "cl_1") {
		t.Fatal("a pair whose record failed is still taken as recorded")
	}
}

// The reference is recorded once the upstream has answered, never while
// the browser waits for it.
func TestBindRecordsAfterTheResponse(t *testing.T) {
	a := newTestApp(t)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	c := &ClickCookie{Cookie: "cms_rf", Bind: []string{"{http.request.cookie._medusa_cart_id}"}, app: a, recent: new(recentPairs)}
	r := httptest.NewRequest(http.MethodGet, "/cart", nil)
	r.Header.Set("Cookie", "cms_rf=cl_1; _medusa_cart_id=cart_1")
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddyhttp.NewTestReplacer(r)))
	writing := -1
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		writing = a.run.pending.wait(0)
		w.WriteHeader(http.StatusOK)
		return nil
	})
	if err := c.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
		t.Fatal(err)
	}
	if writing != 0 {
		t.Fatalf("%d writes running while the upstream answered", writing)
	}
	if n := a.run.pending.wait(10 * time.Second); n > 0 {
		t.Fatalf("%d records still running", n)
	}
	if st := a.currentPipeline().emitter.Stats(); st.BindingsLearned != 1 {
		t.Fatalf("%d bindings learned, want the cart's click", st.BindingsLearned)
	}
}
