// Command caddy is Caddy with its standard modules and caddy-saletrack,
// ready to run: go run ./cmd/caddy run --config Caddyfile.example
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules, as in the official build.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// The sale_track modules.
	_ "github.com/saletrack/caddy-saletrack"
)

func main() {
	caddycmd.Main()
}
