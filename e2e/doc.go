// Package e2e drives the real cmd/caddy binary over loopback: a fake shop,
// a recording fake platform, and Caddy with caddy-saletrack between them.
// The tests build the binary themselves (TestMain), so `go test ./...` on
// a fresh checkout needs nothing installed by hand.
package e2e
