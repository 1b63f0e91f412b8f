// Package caddymodule adapts caddy-saletrack to Caddy: the sale_track app
// and its per-process delivery (shared across reloads through a usage
// pool), the sale_track and click_cookie HTTP handlers, the response tee
// writer, Caddyfile parsing, admin routes and metrics. It is the only
// package that imports Caddy.
package caddymodule
