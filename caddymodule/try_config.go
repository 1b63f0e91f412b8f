package caddymodule

import (
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/saletrack/caddy-saletrack/sale"
)

// quietLogging keeps Caddy's own log lines out of a try's output, errors
// aside, and stands in for the config's logging so that no log file is
// opened.
func quietLogging() *caddy.Logging {
	return &caddy.Logging{Logs: map[string]*caddy.CustomLog{
		"default": {BaseLog: caddy.BaseLog{Level: "ERROR"}},
	}}
}

// provisionForTry provisions a config as `caddy validate` does, without
// starting any app: no listener, no outbox, no delivery, no rates fetch.
// The sale_track app opens its files only when started. Certificates are
// left out (see withoutCertificates), so no file is written or opened.
// It returns the provisioned http app.
func provisionForTry(cfgJSON []byte) (*caddyhttp.App, error) {
	var cfg caddy.Config
	if err := caddy.StrictUnmarshalJSON(cfgJSON, &cfg); err != nil {
		return nil, fmt.Errorf("decoding the config: %w", err)
	}
	cfg.Logging = quietLogging()
	cfg.Admin = nil
	if err := withoutCertificates(&cfg); err != nil {
		return nil, err
	}
	ctx, err := caddy.ProvisionContext(&cfg)
	if err != nil {
		return nil, err
	}
	app, err := ctx.AppIfConfigured("http")
	if err != nil {
		return nil, fmt.Errorf("the config has no http app, so no route reaches a sale_track handler")
	}
	return app.(*caddyhttp.App), nil
}

// withoutCertificates drops the tls and pki apps and turns automatic
// HTTPS off on every server: provisioning them would create a local
// certificate authority in Caddy's storage for a localhost site, and
// none of it bears on which handler a request reaches or what it reads.
// The route matchers are provisioned all the same.
func withoutCertificates(cfg *caddy.Config) error {
	delete(cfg.AppsRaw, "tls")
	delete(cfg.AppsRaw, "pki")
	raw, ok := cfg.AppsRaw["http"]
	if !ok {
		return nil
	}
	var app map[string]json.RawMessage
	if err := json.Unmarshal(raw, &app); err != nil {
		return fmt.Errorf("decoding the http app: %w", err)
	}
	var servers map[string]map[string]json.RawMessage
	if err := json.Unmarshal(app["servers"], &servers); err != nil && app["servers"] != nil {
		return fmt.Errorf("decoding the http servers: %w", err)
	}
	for _, srv := range servers {
		var auto map[string]any
		_ = json.Unmarshal(srv["automatic_https"], &auto)
		if auto == nil {
			auto = map[string]any{}
		}
		auto["disable"] = true
		srv["automatic_https"], _ = json.Marshal(auto)
	}
	if servers != nil {
		app["servers"], _ = json.Marshal(servers)
	}
	var err error
	cfg.AppsRaw["http"], err = json.Marshal(app)
	return err
}

// silenceCaddyLog replaces Caddy's default logger with quietLogging's
// before the config is read, so that the config loader's INFO lines stay
// out of the output.
func silenceCaddyLog() {
	_, _ = caddy.ProvisionContext(&caddy.Config{Logging: quietLogging()})
}

// loadTryConfig reads a config file as `caddy run` does, the adapter
// inferred from its name when not given (a file named Caddyfile is a
// Caddyfile), and returns its JSON.
func loadTryConfig(path, adapter string) ([]byte, error) {
	cfgJSON, _, _, err := caddycmd.LoadConfig(path, adapter)
	if err != nil {
		return nil, err
	}
	if len(cfgJSON) == 0 {
		return nil, fmt.Errorf("no config in %s", path)
	}
	return cfgJSON, nil
}

// presetConfig is a config with one route, every path, reading with the
// preset (sale_track, or lead_track for a sign-up preset), delivering to
// the named platform's API. A platform with an API wants a key: the
// config gets one that is never sent nor printed.
func presetConfig(preset, platform string) ([]byte, error) {
	p, err := sale.LookupPreset(preset)
	if err != nil {
		return nil, err
	}
	profile, err := sale.LookupPlatform(platform)
	if err != nil {
		return nil, err
	}
	app := map[string]any{"platform": profile.Name}
	if profile.APIBase != "" {
		app["api_key"] = "sale-track-try"
	}
	handler := "sale_track"
	if p.Kind == sale.KindLead {
		handler = "lead_track"
	}
	return json.Marshal(map[string]any{
		"apps": map[string]any{
			"http": map[string]any{"servers": map[string]any{"try": map[string]any{
				"listen": []string{"127.0.0.1:0"},
				"routes": []any{map[string]any{"handle": []any{map[string]any{"handler": handler, "preset": preset}}}},
			}}},
			"sale_track": app,
		},
	})
}
