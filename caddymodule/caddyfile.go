package caddymodule

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/saletrack/caddy-saletrack/fx"
	"github.com/saletrack/caddy-saletrack/sale"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("sale_track", parseHandler)
	httpcaddyfile.RegisterHandlerDirective("lead_track", parseLeadTrack)
	httpcaddyfile.RegisterHandlerDirective("click_cookie", parseClickCookie)
	httpcaddyfile.RegisterHandlerDirective("checkout_ref", parseCheckoutRef)
	// All four are anchored on encode, the nearest standard directive
	// before reverse_proxy, and each goes right after it: registered in
	// this order they run as encode, click_cookie, lead_track, sale_track,
	// checkout_ref, so the click variable is set before a lead, a sale or
	// a checkout is read on the same request. Users write no order line.
	httpcaddyfile.RegisterDirectiveOrder("checkout_ref", httpcaddyfile.After, "encode")
	httpcaddyfile.RegisterDirectiveOrder("sale_track", httpcaddyfile.After, "encode")
	httpcaddyfile.RegisterDirectiveOrder("lead_track", httpcaddyfile.After, "encode")
	httpcaddyfile.RegisterDirectiveOrder("click_cookie", httpcaddyfile.After, "encode")
	httpcaddyfile.RegisterGlobalOption("sale_track", parseGlobalOption)
}

func parseHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(Handler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	sale_track [<preset>] {
//		source       response|request
//		amount       <source>...
//		currency     <source>...
//		invoice_id   <source>...
//		customer_id  <source>...
//		email        <source>...
//		name         <source>...
//		click_id     <source>...
//		timestamp    <source>...
//		amount_digits <source>...
//		ref          <source>...
//		event        <name>
//		amount_unit  major|minor
//		default_currency <ISO code>
//		when         <path> [<value>...]
//		status       <codes>...
//		max_body     <size>
//		route        <name>
//	}
//
// A source starting with { is a placeholder; anything else is a gjson path.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	directive, file, line := d.Val(), d.File(), d.Line()
	if d.NextArg() {
		h.Preset = d.Val()
		if _, err := sale.LookupPreset(h.Preset); err != nil {
			return d.Errf("%v", err)
		}
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	sources := map[string]*[]string{}
	for field, target := range h.fieldSources() {
		sources[string(field)] = target
	}
	for d.NextBlock(0) {
		sub := d.Val()
		found, err := sourceLine(d, sources)
		if err != nil {
			return err
		}
		if found {
			continue
		}
		switch sub {
		case "source":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			if v != "response" && v != "request" {
				return d.Errf("source %q: want response or request", v)
			}
			h.Body = v
		case "event":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			h.Event = v
		case "mode", "follow_up":
			if h.kind != sale.KindLead {
				return d.Errf("%s: only lead_track has it", sub)
			}
			if sub == "follow_up" {
				if d.NextArg() {
					return d.ArgErr()
				}
				h.FollowUp = true
				continue
			}
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			h.Mode = v
		case "route":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			h.Route = v
		case "amount_unit":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			if _, err := fx.ParseUnit(v); err != nil {
				return d.Errf("%v", err)
			}
			h.AmountUnit = strings.ToLower(v)
		case "default_currency":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			code, err := fx.NormalizeCode(v)
			if err != nil {
				return d.Errf("default_currency: %v", err)
			}
			h.DefaultCurrency = code
		case "when":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			if err := sale.ValidatePath(args[0]); err != nil {
				return d.Errf("when: %v", err)
			}
			h.When = append(h.When, sale.Condition{Path: args[0], Values: args[1:]})
		case "status":
			codes, err := parseStatusArgs(d)
			if err != nil {
				return err
			}
			h.Status = append(h.Status, codes...)
		case "max_body":
			size, err := parseMaxBody(d)
			if err != nil {
				return err
			}
			h.MaxBody = size
		default:
			return d.Errf("unknown subdirective %q", sub)
		}
	}
	// Everything Provision would refuse is refused here, at the directive's
	// line: the spec is built the one way production builds it.
	if _, err := sale.BuildSpec(h.specConfig()); err != nil {
		return fmt.Errorf("%s: %v, at %s:%d", directive, err, file, line)
	}
	return nil
}

// parseStatusArgs reads a status line's codes and classes.
func parseStatusArgs(d *caddyfile.Dispenser) ([]int, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	codes := make([]int, 0, len(args))
	for _, a := range args {
		code, err := parseStatus(a)
		if err != nil {
			return nil, d.Errf("status: %v", err)
		}
		codes = append(codes, code)
	}
	return codes, nil
}

// parseMaxBody reads a max_body line's size.
func parseMaxBody(d *caddyfile.Dispenser) (int64, error) {
	v, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	size, err := humanize.ParseBytes(v)
	if err != nil {
		return 0, d.Errf("max_body %q: want a size such as 1MiB", v)
	}
	// A size past int64 becomes negative here, which the rule refuses.
	if err := checkMaxBody(int64(size)); err != nil {
		return 0, d.Errf("%v", err)
	}
	return int64(size), nil
}

// parseStatus reads a code (201) or a class (2xx), as Caddy's response
// matchers do.
func parseStatus(s string) (int, error) {
	code, err := strconv.Atoi(s)
	switch {
	case len(s) == 3 && strings.HasSuffix(strings.ToLower(s), "xx"):
		code, err = int(s[0]-'0'), nil // a class, as in JSON
	case code < 100:
		code = 0 // a bare class number is written 2xx here
	}
	if err != nil || checkStatus(code) != nil {
		return 0, fmt.Errorf("%q is not a status code (100 to 599) or class (2xx)", s)
	}
	return code, nil
}

func oneArg(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	v := d.Val()
	if d.NextArg() {
		return "", d.ArgErr()
	}
	return v, nil
}

// checkedArg reads an option's one argument and checks it by rule on its
// line; a value holding a placeholder is checked by Validate once resolved.
func checkedArg(d *caddyfile.Dispenser, rule func(string) error) (string, error) {
	v, err := oneArg(d)
	if err != nil {
		return "", err
	}
	if rule != nil && !hasPlaceholder(v) {
		if err := rule(v); err != nil {
			return "", d.WrapErr(err)
		}
	}
	return v, nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
