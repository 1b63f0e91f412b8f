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
	where   string
}

// routeWalk follows one request through a server's routes with the real
// matchers, as the server would, down into subroutes (handle, route), to
// the first sale_track or lead_track handler on its way. Nothing runs but
// the matchers.
type routeWalk struct {
	req *http.Request
	// anyHost makes host matchers hold: a site address names the host,
	// and a try without --host means whichever site the path reaches.
	anyHost bool
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
		ok, err := w.matches(route.MatcherSets)
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

// matches reports whether any of the route's matcher sets holds, through
// the matchers' own code; host matchers hold for any host when anyHost.
func (w *routeWalk) matches(sets caddyhttp.MatcherSets) (bool, error) {
	if !w.anyHost {
		return sets.AnyMatchWithError(w.req)
	}
	kept := make(caddyhttp.MatcherSets, 0, len(sets))
	for _, set := range sets {
		kept = append(kept, slices.DeleteFunc(slices.Clone(set), isHostMatcher))
	}
	return kept.AnyMatchWithError(w.req)
}

func isHostMatcher(m any) bool {
	switch m.(type) {
	case caddyhttp.MatchHost, *caddyhttp.MatchHost:
		return true
	}
	return false
}

// findCaptureInApp walks every server of the http app, in name order, for
// a request made by newRequest; the first server whose routes reach a
// capture handler wins. others names the other servers that reach one.
func findCaptureInApp(app *caddyhttp.App, anyHost bool, newRequest func(*caddyhttp.Server) (*http.Request, error)) (found *reached, others []string, err error) {
	names := make([]string, 0, len(app.Servers))
	for name := range app.Servers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		srv := app.Servers[name]
		req, err := newRequest(srv)
		if err != nil {
			return nil, nil, err
		}
		w := &routeWalk{req: req, anyHost: anyHost, groups: map[string]bool{}}
		got, err := w.findCapture(srv.Routes, "")
		if err != nil {
			return nil, nil, fmt.Errorf("server %s: %w", name, err)
		}
		if got == nil {
			continue
		}
		got.where = "server " + name + " (" + strings.Join(srv.Listen, " ") + "), " + got.where
		if found == nil {
			got.server = srv
			found = got
		} else {
			others = append(others, "server "+name)
		}
	}
	return found, others, nil
}
