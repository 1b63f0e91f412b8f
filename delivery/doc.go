// Package delivery gets each captured sale out exactly once: the bbolt
// outbox (event and dedup key in one group commit), the emitter and its
// worker, the sinks (the platform's HTTP API, a JSON Lines file), retries
// with backoff, dead letters and stats. It does not import Caddy; the
// caddymodule package runs it within Caddy's lifecycle.
package delivery
