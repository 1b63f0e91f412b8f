package caddymodule

import (
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/saletrack/caddy-saletrack/sale"
)

// checkBind is the rule of a bind entry: a placeholder, resolved on each
// request. A fixed text would bind every click to one reference.
func checkBind(v string) error {
	if !strings.HasPrefix(v, "{") || !strings.HasSuffix(v, "}") {
		return fmt.Errorf("bind %q: want a placeholder such as {http.request.cookie._medusa_cart_id}", v)
	}
	return nil
}

// provisionBind finds the app whose binding the references go to; a
// click_cookie that binds nothing needs no app.
func (c *ClickCookie) provisionBind(ctx caddy.Context) error {
	if len(c.Bind) == 0 {
		return nil
	}
	app, err := saleTrackApp(ctx)
	if err != nil {
		return err
	}
	c.app = app
	c.recent = new(recentPairs)
	return nil
}

// bindRefs records the request's references with its click: the click
// this request brought, else the one its cookie holds. The write happens
// after, off the request's path, and only for a pair this handler has not
// recorded lately.
func (c *ClickCookie) bindRefs(r *http.Request) {
	click, _ := caddyhttp.GetVar(r.Context(), "click_id").(string)
	if click == "" {
		click = c.cookieClick(r)
	}
	if click == "" {
		return
	}
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil {
		return
	}
	var refs []string
	for _, placeholder := range c.Bind {
		if ref := sale.CheckoutRef(repl.ReplaceAll(placeholder, "")); ref != "" && c.recent.isNew(ref, click) {
			refs = append(refs, ref)
		}
	}
	if len(refs) > 0 {
		c.app.bindRefsLater(sale.RefCapture{Refs: refs, Click: click}, func() { c.recent.forget(refs, click) })
	}
}

// recentMax bounds the pairs a click_cookie remembers having recorded.
// Forgetting one costs a read of the binding, which finds it there.
const recentMax = 10000

// recentPairs remembers the reference-click pairs lately recorded, so the
// browser's every request with its cart cookie writes nothing.
type recentPairs struct {
	mu sync.Mutex
	m  map[string]string
}

// forget drops the pairs of refs with click, whose record failed, so the
// next request with them records them again.
func (p *recentPairs) forget(refs []string, click string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ref := range refs {
		if p.m[ref] == click {
			delete(p.m, ref)
		}
	}
}

// isNew reports whether ref was not lately recorded with click, and
// remembers that it now is.
func (p *recentPairs) isNew(ref, click string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m[ref] == click {
		return false
	}
	if p.m == nil || len(p.m) >= recentMax {
		p.m = make(map[string]string)
	}
	p.m[ref] = click
	return true
}
