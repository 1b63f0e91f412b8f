package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/saletrack/caddy-saletrack/sale"
)

func parseCheckoutRef(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	c := new(CheckoutRef)
	err := c.UnmarshalCaddyfile(h.Dispenser)
	return c, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	checkout_ref [<preset>] {
//		ref          <source>...
//		customer_id  <source>...
//		click_id     <source>...
//		status       <codes>...
//		max_body     <size>
//	}
//
// A source starting with { is a placeholder; anything else is a gjson
// path into the response.
func (c *CheckoutRef) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	file, line := d.File(), d.Line()
	lists := map[string]*[]string{"ref": &c.Ref, "customer_id": &c.CustomerID, "click_id": &c.ClickID}
	if d.NextArg() {
		c.Preset = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		sub := d.Val()
		found, err := sourceLine(d, lists)
		if err != nil {
			return err
		}
		if found {
			continue
		}
		switch sub {
		case "status":
			codes, err := parseStatusArgs(d)
			if err != nil {
				return err
			}
			c.Status = append(c.Status, codes...)
		case "max_body":
			size, err := parseMaxBody(d)
			if err != nil {
				return err
			}
			c.MaxBody = size
		default:
			return d.Errf("unknown subdirective %q", sub)
		}
	}
	// What Provision would refuse (no ref, an unknown preset) is refused at
	// the directive's line.
	if _, err := c.buildSpec(""); err != nil {
		return fmt.Errorf("%v, at %s:%d", err, file, line)
	}
	return nil
}

// sourceLine reads a line that lists a field's sources, when the current
// subdirective names one of lists: each source is checked on its line and
// added to the field's. It reports whether the line was one.
func sourceLine(d *caddyfile.Dispenser, lists map[string]*[]string) (bool, error) {
	field := d.Val()
	target, ok := lists[field]
	if !ok {
		return false, nil
	}
	args := d.RemainingArgs()
	if len(args) == 0 {
		return true, d.ArgErr()
	}
	for _, a := range args {
		if _, err := sale.ParseSource(a); err != nil {
			return true, d.Errf("%s: %v", field, err)
		}
	}
	*target = append(*target, args...)
	return true, nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*CheckoutRef)(nil)
