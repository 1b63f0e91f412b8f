// Package sale is the plain-Go core of caddy-saletrack: the sale event and
// its wire payload, the field sources a sale is extracted from, validation,
// and the delivery side (outbox, emitter, sinks). It does not import Caddy;
// the caddymodule package adapts it to Caddy's lifecycle and requests.
package sale
