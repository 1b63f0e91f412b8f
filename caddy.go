// Package saletrack registers the caddy-saletrack modules with Caddy, so
// that
//
//	xcaddy build --with github.com/saletrack/caddy-saletrack
//
// builds a Caddy that can report each sale at a shop's checkout to an
// attribution platform's Sale Track API, without a change to the shop.
// The modules are the sale_track app (http.handlers.sale_track's delivery,
// configured in the global options), the sale_track and click_cookie HTTP
// handlers, and the admin.api.sale_track admin routes. See the README.
package saletrack

import (
	// The modules register themselves in their init functions.
	_ "github.com/saletrack/caddy-saletrack/caddymodule"
)
