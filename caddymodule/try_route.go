package caddymodule

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// reached is the capture handler a request reaches, and where it is in
// the config, written for a person ("server srv0, route 1, subroute
// route 0").
type reached struct {
	handler *Handler
	server  *caddyhttp.Server
	// host is the request's Host that reached it.
	host  string
	where string
}

// routeWalk follows one request through a server's routes with the real
// matchers, as the server would, down into subroutes (handle, route), to
// the first sale_track or lead_track handler on its way. Nothing runs but
// the matchers.
type routeWalk struct {
	req *http.Request
	// groups are the route groups already matched, as in a request: only
	// the first matching route of a group (the handle blocks of a site)
	// applies.
	groups map[string]bool
}

// findCapture returns the first capture handler the request reaches in
// routes, or nil.
func (w *routeWalk) findCapture(routes caddyhttp.RouteList, where string) (*reached, error) {
	for i, route := range routes {
		if route.Group != "" && w.groups[route.Group] {
			continue
		}
		ok, err := route.MatcherSets.AnyMatchWithError(w.req)
		if err != nil {
			return nil, fmt.Errorf("%s route %d: matcher: %w", where, i, err)
		}
		if !ok {
			continue
		}
		if route.Group != "" {
			w.groups[route.Group] = true
		}
		at := fmt.Sprintf("%sroute %d", where, i)
		for _, mh := range route.Handlers {
			switch h := mh.(type) {
			case *Handler:
				return &reached{handler: h, where: at}, nil
			case *LeadTrack:
				return &reached{handler: &h.Handler, where: at}, nil
			case *caddyhttp.Subroute:
				found, err := w.findCapture(h.Routes, at+", subroute ")
				if found != nil || err != nil {
					return found, err
				}
			}
		}
		if route.Terminal {
			return nil, nil
		}
	}
	return nil, nil
}

// noSiteHost is a host no site names, to reach the routes of a server
// that no host matcher guards.
const noSiteHost = "sale-track-try.invalid"

// findCaptureInApp walks every server of the http app, in name order, for
// a request made by newRequest to host; the first server whose routes
// reach a capture handler wins. With no host, the request goes to each
// host the server's sites name, then to one none names, and others lists
// where it reached another handler than the first.
func findCaptureInApp(app *caddyhttp.App, host string, newRequest func(srv *caddyhttp.Server, host string) (*http.Request, error)) (found *reached, others []string, err error) {
	names := make([]string, 0, len(app.Servers))
	for name := range app.Servers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		srv := app.Servers[name]
		hosts := []string{host}
		if host == "" {
			hosts = append(siteHosts(srv.Routes), noSiteHost)
		}
		for _, h := range hosts {
			req, err := newRequest(srv, h)
			if err != nil {
				return nil, nil, err
			}
			w := &routeWalk{req: req, groups: map[string]bool{}}
			got, err := w.findCapture(srv.Routes, "")
			if err != nil {
				return nil, nil, fmt.Errorf("server %s: %w", name, err)
			}
			if got == nil {
				continue
			}
			site := "server " + name + " (" + strings.Join(srv.Listen, " ") + ")"
			if h != noSiteHost {
				site += " host " + h
			}
			switch {
			case found == nil:
				got.where = site + ", " + got.where
				got.server, got.host = srv, h
				found = got
			case got.handler != found.handler:
				others = append(others, site)
			}
		}
	}
	return found, others, nil
}

// siteHosts lists the hosts the server's top-level host matchers name, in
// route order: a Caddyfile's site addresses.
func siteHosts(routes caddyhttp.RouteList) []string {
	var hosts []string
	for _, route := range routes {
		for _, set := range route.MatcherSets {
			for _, m := range set {
				var names caddyhttp.MatchHost
				switch m := m.(type) {
				case caddyhttp.MatchHost:
					names = m
				case *caddyhttp.MatchHost:
					names = *m
				}
				for _, n := range names {
					if !slices.Contains(hosts, n) {
						hosts = append(hosts, n)
					}
				}
			}
		}
	}
	return hosts
}
