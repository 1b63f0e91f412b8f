package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/saletrack/caddy-saletrack/sale"
)

func init() {
	caddy.RegisterModule(LeadTrack{})
}

// LeadTrack watches a sign-up route's responses (or an auth provider's
// webhooks the shop receives) and reports each lead: the shop's own
// customer id with the visitor's click, which is how the platform ties
// the customer's later sales to the link that brought them. It is the
// sale_track handler reading leads: the same sources, conditions, body
// choice and delivery, with customer_id, email, name, click_id, event,
// mode and follow_up as its fields; a lead has no amount.
type LeadTrack struct {
	Handler
}

// CaddyModule returns the Caddy module information.
func (LeadTrack) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.lead_track",
		New: func() caddy.Module { return new(LeadTrack) },
	}
}

// Provision builds the lead's spec and finds the sale_track app.
func (l *LeadTrack) Provision(ctx caddy.Context) error {
	l.kind = sale.KindLead
	return l.Handler.Provision(ctx)
}

// Validate checks what Provision could not fix.
func (l *LeadTrack) Validate() error {
	if err := checkFollowUp(l.FollowUp, l.Mode); err != nil {
		return err
	}
	return l.Handler.Validate()
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	lead_track [<preset>] {
//		source       response|request
//		customer_id  <source>...
//		email        <source>...
//		name         <source>...
//		click_id     <source>...
//		timestamp    <source>...
//		event        <name>
//		mode         deferred
//		follow_up
//		when         <path> [<value>...]
//		status       <codes>...
//		max_body     <size>
//		route        <name>
//	}
func (l *LeadTrack) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	l.kind = sale.KindLead
	if err := l.Handler.UnmarshalCaddyfile(d); err != nil {
		return err
	}
	if err := checkFollowUp(l.FollowUp, l.Mode); err != nil {
		return d.Errf("%v", err)
	}
	return nil
}

// checkFollowUp is the rule of follow_up: the second step of a deferred
// sign-up is not itself deferred.
func checkFollowUp(followUp bool, mode string) error {
	if followUp && mode != "" {
		return fmt.Errorf("follow_up completes a deferred sign-up and takes no mode")
	}
	return nil
}

func parseLeadTrack(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	l := new(LeadTrack)
	err := l.UnmarshalCaddyfile(h.Dispenser)
	return l, err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*LeadTrack)(nil)
	_ caddy.Validator             = (*LeadTrack)(nil)
	_ caddyhttp.MiddlewareHandler = (*LeadTrack)(nil)
	_ caddyfile.Unmarshaler       = (*LeadTrack)(nil)
)
