package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/saletrack/caddy-saletrack/sale"
)

func init() {
	caddy.RegisterModule(ClickCookie{})
}

// DefaultClickMaxAge is how long the click cookie lives by default: 90
// days, as Dub's script keeps its dub_id cookie.
const DefaultClickMaxAge = 2160 * time.Hour

// ClickCookie keeps the click id of a tracked link as a first-party
// cookie, set by the server so that Safari's 7-day cap on cookies written
// by scripts does not apply. Its parameter and cookie are the platform's
// (the global sale_track option platform): cms_rf for CutMeShort, dub_id
// for Dub, clickId for generic, so the platform's own script, if the shop
// also runs it, reads and extends the same cookie. When a request's query
// carries a valid click id, the response gets a Set-Cookie beside any the
// upstream sets, and the click is available to the same request as
// {http.vars.click_id}; under first-click attribution a valid existing
// cookie is kept instead. The URL is not changed and nothing is
// redirected.
type ClickCookie struct {
	// Params are the query parameters that may carry the click id, tried
	// in order. Default: the platform's click parameter: [cms_rf]
	// (cutmeshort), [dub_id] (dub) or [clickId] (generic).
	Params []string `json:"params,omitempty"`

	// Cookie is the cookie's name, an HTTP token; a __Host- name takes no
	// Domain. Default: the platform's click cookie: cms_rf (cutmeshort),
	// dub_id (dub) or clickId (generic).
	Cookie string `json:"cookie,omitempty"`

	// MaxAge is how long the cookie lives, at least 1s; it is sent in whole
	// seconds. Default: 2160h (90 days).
	MaxAge caddy.Duration `json:"max_age,omitempty"`

	// Domain makes the cookie valid for a whole domain (e.g. example.com for
	// shop.example.com and www.example.com): a host name or an IPv4
	// address, as net/http accepts it. Default: host-only.
	Domain string `json:"domain,omitempty"`

	// SameSite is lax, strict or none. none is always sent with Secure, as
	// browsers require. Default: lax.
	SameSite string `json:"same_site,omitempty"`

	// HTTPOnly hides the cookie from scripts. Default: true.
	HTTPOnly *bool `json:"http_only,omitempty"`

	// Bind lists placeholders for the shop's own references on the
	// browser's requests, such as {http.request.cookie._medusa_cart_id}.
	// On a request that has a click (brought now, or in the cookie) each
	// reference with a value is recorded with that click, after the
	// request and only when the pair is new, so that a sale the shop's
	// server completes with the same reference (sale_track's ref) finds
	// the click. Default: none.
	Bind []string `json:"bind,omitempty"`

	sameSite http.SameSite
	// keepFirst is the app's attribution first: a valid existing cookie
	// is kept.
	keepFirst bool
	// app takes the references Bind records; recent are the pairs lately
	// recorded.
	app    *App
	recent *recentPairs
}

// CaddyModule returns the Caddy module information.
func (ClickCookie) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.click_cookie",
		New: func() caddy.Module { return new(ClickCookie) },
	}
}

// Provision fills the defaults, the parameter, the cookie and the
// attribution rule from the sale_track app.
func (c *ClickCookie) Provision(ctx caddy.Context) error {
	platform, attribution, err := clickSettings(ctx)
	if err != nil {
		return err
	}
	if err := c.provisionBind(ctx); err != nil {
		return err
	}
	return c.provision(platform, attribution)
}

// clickSettings are the platform and the attribution rule of the config's
// sale_track app. A config without the app gets its defaults without
// having it created: ctx.App would create one, and Caddy would start it,
// opening an outbox and fetching rates for a config that captures nothing.
// Where a sale_track handler creates the default app, it has these same
// defaults.
func clickSettings(ctx caddy.Context) (*sale.Platform, string, error) {
	appIface, err := ctx.AppIfConfigured("sale_track")
	if errors.Is(err, caddy.ErrNotConfigured) {
		platform, err := sale.LookupPlatform("")
		return platform, AttributionLast, err
	}
	if err != nil {
		return nil, "", fmt.Errorf("loading the sale_track app: %v", err)
	}
	app := appIface.(*App)
	return app.platform, app.Attribution, nil
}

// provision is Provision with the app's settings given.
func (c *ClickCookie) provision(platform *sale.Platform, attribution string) error {
	if len(c.Params) == 0 {
		c.Params = []string{platform.ClickParam}
	}
	if c.Cookie == "" {
		c.Cookie = platform.ClickCookie
	}
	c.keepFirst = attribution == AttributionFirst
	if c.MaxAge == 0 {
		c.MaxAge = caddy.Duration(DefaultClickMaxAge)
	}
	if c.HTTPOnly == nil {
		yes := true
		c.HTTPOnly = &yes
	}
	var err error
	c.sameSite, err = parseSameSite(c.SameSite)
	return err
}

// Validate checks the cookie's name, domain and lifetime with the rules the
// Caddyfile parser applies.
func (c *ClickCookie) Validate() error {
	if err := checkCookieName(c.Cookie); err != nil {
		return err
	}
	if err := checkCookieDomain(c.Domain); err != nil {
		return err
	}
	if err := checkHostPrefix(c.Cookie, c.Domain); err != nil {
		return err
	}
	if err := checkMaxAge(time.Duration(c.MaxAge)); err != nil {
		return fmt.Errorf("max_age %s: %w", time.Duration(c.MaxAge), err)
	}
	for _, b := range c.Bind {
		if err := checkBind(b); err != nil {
			return err
		}
	}
	return nil
}

// The rules of click_cookie's options, each written once and called by the
// Caddyfile parser and by Validate (or, for same_site, Provision). The
// cookie rules are net/http's own: it sends no cookie with an invalid name
// and silently drops an invalid domain from every Set-Cookie.

func checkCookieName(name string) error {
	if (&http.Cookie{Name: name}).Valid() != nil {
		return fmt.Errorf("cookie name %q is not a valid token", name)
	}
	return nil
}

func checkCookieDomain(domain string) error {
	if domain != "" && (&http.Cookie{Name: "click", Domain: domain}).Valid() != nil {
		return fmt.Errorf("domain %q: not a cookie domain; net/http would drop it from every Set-Cookie", domain)
	}
	return nil
}

// checkHostPrefix: browsers refuse a cookie whose name starts __Host-
// (in any case) if it names a domain, so not one click would be kept.
func checkHostPrefix(name, domain string) error {
	if domain != "" && len(name) >= len(hostPrefix) && strings.EqualFold(name[:len(hostPrefix)], hostPrefix) {
		return fmt.Errorf("cookie %q with domain %q: browsers refuse a %s cookie that names a domain", name, domain, hostPrefix)
	}
	return nil
}

const hostPrefix = "__Host-"

// checkMaxAge wants a whole second: Max-Age counts seconds, and 0 leaves
// the attribute out, which makes a session cookie.
func checkMaxAge(d time.Duration) error {
	if d < time.Second {
		return errors.New("want at least 1s")
	}
	return nil
}

func parseSameSite(s string) (http.SameSite, error) {
	switch strings.ToLower(s) {
	case "", "lax":
		return http.SameSiteLaxMode, nil
	case "strict":
		return http.SameSiteStrictMode, nil
	case "none":
		return http.SameSiteNoneMode, nil
	}
	return 0, fmt.Errorf("same_site %q: want lax, strict or none", s)
}

// ServeHTTP sets the cookie when the query carries a click, then passes on.
func (c *ClickCookie) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if r.URL.RawQuery != "" {
		if id := c.clickID(r); id != "" {
			if kept := c.keptClick(r); kept != "" {
				// First-click attribution: the visitor's first click
				// stands, and its cookie is neither replaced nor renewed.
				caddyhttp.SetVar(r.Context(), "click_id", kept)
			} else {
				cookie := &http.Cookie{
					Name:     c.Cookie,
					Value:    id,
					Path:     "/",
					Domain:   c.Domain,
					MaxAge:   int(time.Duration(c.MaxAge).Seconds()),
					Secure:   r.TLS != nil || c.sameSite == http.SameSiteNoneMode,
					HttpOnly: *c.HTTPOnly,
					SameSite: c.sameSite,
				}
				w.Header().Add("Set-Cookie", cookie.String())
				caddyhttp.SetVar(r.Context(), "click_id", id)
			}
		}
	}
	err := next.ServeHTTP(w, r)
	if len(c.Bind) > 0 {
		// Once the response is written: the write then never competes
		// with it for the disk.
		c.bindRefs(r)
	}
	return err
}

// keptClick is, under first-click attribution, the click of the cookie the
// request already carries, if it is valid; otherwise "" and the new click
// replaces it. An invalid cookie attributes nothing, so keeping it would
// lose the click.
func (c *ClickCookie) keptClick(r *http.Request) string {
	if !c.keepFirst {
		return ""
	}
	return c.cookieClick(r)
}

// cookieClick is the click the request's cookie holds, if it is valid.
func (c *ClickCookie) cookieClick(r *http.Request) string {
	if cookie, err := r.Cookie(c.Cookie); err == nil && sale.ValidClickID(cookie.Value) {
		return cookie.Value
	}
	return ""
}

// clickID returns the first valid value among the parameters. An invalid
// value is ignored: it is never reflected into a header.
func (c *ClickCookie) clickID(r *http.Request) string {
	query := r.URL.Query()
	for _, p := range c.Params {
		for _, v := range query[p] {
			if sale.ValidClickID(v) {
				return v
			}
		}
	}
	return ""
}

func parseClickCookie(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	c := new(ClickCookie)
	err := c.UnmarshalCaddyfile(h.Dispenser)
	return c, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	click_cookie {
//		param     <name>...
//		cookie    <name>
//		max_age   <duration>
//		domain    <domain>
//		same_site lax|strict|none
//		http_only true|false
//		bind      <placeholder>...
//	}
func (c *ClickCookie) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "param":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			c.Params = append(c.Params, args...)
		case "cookie":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			if err := checkCookieName(v); err != nil {
				return d.WrapErr(err)
			}
			if err := checkHostPrefix(v, c.Domain); err != nil {
				return d.WrapErr(err)
			}
			c.Cookie = v
		case "max_age":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("max_age %q: want a duration such as 2160h", v)
			}
			if err := checkMaxAge(dur); err != nil {
				return d.Errf("max_age %q: %v", v, err)
			}
			c.MaxAge = caddy.Duration(dur)
		case "domain":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			if err := checkCookieDomain(v); err != nil {
				return d.WrapErr(err)
			}
			if err := checkHostPrefix(c.Cookie, v); err != nil {
				return d.WrapErr(err)
			}
			c.Domain = v
		case "same_site":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			if _, err := parseSameSite(v); err != nil {
				return d.WrapErr(err)
			}
			c.SameSite = strings.ToLower(v)
		case "http_only":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			switch v {
			case "true":
				yes := true
				c.HTTPOnly = &yes
			case "false":
				no := false
				c.HTTPOnly = &no
			default:
				return d.Errf("http_only %q: want true or false", v)
			}
		case "bind":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				if err := checkBind(a); err != nil {
					return d.WrapErr(err)
				}
			}
			c.Bind = append(c.Bind, args...)
		default:
			return d.Errf("unknown subdirective %q", d.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*ClickCookie)(nil)
	_ caddy.Validator             = (*ClickCookie)(nil)
	_ caddyhttp.MiddlewareHandler = (*ClickCookie)(nil)
	_ caddyfile.Unmarshaler       = (*ClickCookie)(nil)
)
